package app

import (
	"skiff.dev/skiff/internal/registry"
	"skiff.dev/skiff/internal/registry/apps"
	"skiff.dev/skiff/internal/registry/batch"
	"skiff.dev/skiff/internal/registry/core"
	"skiff.dev/skiff/internal/registry/rbac"
)

// Resources lists every REST resource the API server serves, in the order
// discovery shows them.
func Resources() []registry.Resource {
	var out []registry.Resource
	for _, group := range [][]registry.Resource{
		core.Resources(),
		apps.Resources(),
		batch.Resources(),
		rbac.Resources(),
	} {
		out = append(out, group...)
	}
	return out
}
