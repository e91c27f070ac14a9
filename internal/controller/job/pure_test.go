package job

import (
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
)

func TestIndexSetRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		in          string
		completions int
		want        string
	}{
		{"", 5, ""},
		{"0", 5, "0"},
		{"0,1,2", 5, "0-2"},
		{"1,3-5,7", 10, "1,3-5,7"},
		{"1,3-5,7", 5, "1,3-4"},
		{"4-6,0", 10, "0,4-6"},
	} {
		if got := parseIndexes(tc.in, tc.completions).String(); got != tc.want {
			t.Errorf("%q (completions %d): got %q, want %q", tc.in, tc.completions, got, tc.want)
		}
	}
}

func TestBackoffRemaining(t *testing.T) {
	base, max := 10*time.Second, 10*time.Minute
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		failures int
		since    time.Duration
		want     time.Duration
	}{
		{0, 0, 0},
		{1, 0, 10 * time.Second},
		{1, 4 * time.Second, 6 * time.Second},
		{2, 0, 20 * time.Second},
		{3, 0, 40 * time.Second},
		{3, time.Minute, 0},
		{8, 0, 10 * time.Minute}, // 1280 s capped
		{100, 0, 10 * time.Minute},
	} {
		r := backoffRecord{failures: tc.failures, lastFailure: t0}
		if got := r.remaining(t0.Add(tc.since), base, max); got != tc.want {
			t.Errorf("%d failures, %v later: got %v, want %v", tc.failures, tc.since, got, tc.want)
		}
	}
	r := backoffRecord{}.update([]time.Time{t0, t0.Add(time.Second)}, []time.Time{t0.Add(500 * time.Millisecond)})
	if r.failures != 1 || !r.lastFailure.Equal(t0.Add(time.Second)) {
		t.Errorf("a success between failures resets the count: got %+v", r)
	}
}

func TestWantActive(t *testing.T) {
	i32 := func(v int32) *int32 { return &v }
	for _, tc := range []struct {
		name                    string
		completions, parallel   *int32
		active, succeeded, want int
	}{
		{"parallelism caps", i32(10), i32(3), 0, 0, 3},
		{"missing completions cap", i32(5), i32(3), 3, 3, 2},
		{"done", i32(5), i32(3), 0, 5, 0},
		{"work queue before success", nil, i32(4), 0, 0, 4},
		{"work queue after success adds none", nil, i32(4), 2, 1, 2},
		{"default parallelism", i32(3), nil, 0, 0, 1},
	} {
		j := &batchv1.Job{Spec: batchv1.JobSpec{Completions: tc.completions, Parallelism: tc.parallel}}
		if got := wantActive(j, tc.active, tc.succeeded); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}
