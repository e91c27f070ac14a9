package nodecert

import (
	"testing"
	"time"
)

func TestRotationDeadline(t *testing.T) {
	nb := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	na := nb.Add(100 * time.Hour)
	for _, tc := range []struct {
		jitter float64
		want   time.Duration
	}{{0, 70 * time.Hour}, {0.5, 80 * time.Hour}, {0.999999, 90 * time.Hour}} {
		got := RotationDeadline(nb, na, tc.jitter).Sub(nb)
		if d := got - tc.want; d < -time.Second || d > time.Second {
			t.Errorf("jitter %v: %v after notBefore, want %v", tc.jitter, got, tc.want)
		}
	}
}
