package app

import "testing"

func TestGCPercentFor(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{10 * mb, 100},
		{100 * mb, 100},
		{101 * mb, 90},
		{165 * mb, 60},
		{200 * mb, 50},
		{250 * mb, 40},
		{333 * mb, 30},
		{500 * mb, 30},
		{4096 * mb, 30},
	} {
		if got := gcPercentFor(tc.live); got != tc.want {
			t.Errorf("gcPercentFor(%d MB) = %d, want %d", tc.live/mb, got, tc.want)
		}
	}
}
