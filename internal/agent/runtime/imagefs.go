package runtime

import (
	"context"

	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Filesystem is a filesystem the runtime keeps images on, and how much
// of it the images take. Its capacity is the filesystem's (statfs on the
// mount point): CRI does not report it.
type Filesystem struct {
	Mountpoint string
	UsedBytes  uint64
	InodesUsed uint64
}

// ImageFsInfo returns the filesystems the runtime keeps images on (for
// containerd, its snapshotter's directory). It is not part of Runtime:
// the simulated runtime has no filesystem, and the image garbage
// collector finds it by type assertion.
func (c *CRI) ImageFsInfo(ctx context.Context) ([]Filesystem, error) {
	r, err := c.img.ImageFsInfo(ctx, &cri.ImageFsInfoRequest{})
	if err != nil {
		return nil, wrap(err, "image filesystem info")
	}
	out := make([]Filesystem, 0, len(r.ImageFilesystems))
	for _, fs := range r.ImageFilesystems {
		out = append(out, Filesystem{
			Mountpoint: fs.GetFsId().GetMountpoint(),
			UsedBytes:  fs.GetUsedBytes().GetValue(),
			InodesUsed: fs.GetInodesUsed().GetValue(),
		})
	}
	return out, nil
}
