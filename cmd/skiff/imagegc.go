package main

import (
	"github.com/spf13/pflag"

	"skiff.dev/skiff/internal/agent/images"
)

// addImageGCFlags registers upstream kubelet's image garbage collection
// flags (imageGCHighThresholdPercent, imageGCLowThresholdPercent,
// imageMinimumGCAge), for `skiff server` and `skiff agent` alike.
func addImageGCFlags(f *pflag.FlagSet, p *images.Policy) {
	f.IntVar(&p.HighThresholdPercent, "image-gc-high-threshold", images.DefaultHighThresholdPercent, "percent of the image filesystem in use above which unused images are removed (100 disables image garbage collection)")
	f.IntVar(&p.LowThresholdPercent, "image-gc-low-threshold", images.DefaultLowThresholdPercent, "percent of the image filesystem in use that image garbage collection brings it down to")
	f.DurationVar(&p.MinAge, "image-minimum-gc-age", images.DefaultMinAge, "how long an unused image stays on the node before it may be garbage-collected")
}
