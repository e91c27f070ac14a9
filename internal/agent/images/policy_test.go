package images

import (
	"slices"
	"testing"
	"time"
)

func TestSelect(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	const mb = 1 << 20
	p := Policy{}.WithDefaults()
	// 100 MB filesystem, 90 MB used: 10 MB must go to reach 80%.
	full := Usage{CapacityBytes: 100 * mb, AvailableBytes: 10 * mb}
	old := ago(time.Hour)
	tests := []struct {
		name     string
		policy   Policy
		usage    Usage
		records  []Record
		want     []string
		wantFree uint64
	}{{
		name:  "below the high threshold: nothing",
		usage: Usage{CapacityBytes: 100 * mb, AvailableBytes: 16 * mb},
		records: []Record{
			{ID: "a", Size: 50 * mb, FirstDetected: old},
		},
	}, {
		name:  "at the high threshold: down to the low one, least recently used first",
		usage: Usage{CapacityBytes: 100 * mb, AvailableBytes: 15 * mb},
		records: []Record{
			{ID: "recent", Size: 4 * mb, FirstDetected: old, LastUsed: ago(time.Minute)},
			{ID: "stale", Size: 3 * mb, FirstDetected: old, LastUsed: ago(30 * time.Minute)},
			{ID: "never", Size: 1 * mb, FirstDetected: old},
			{ID: "spare", Size: 1 * mb, FirstDetected: ago(50 * time.Minute), LastUsed: ago(10 * time.Second)},
		},
		want:     []string{"never", "stale", "recent"},
		wantFree: 5 * mb,
	}, {
		name:  "in use, pinned and young images stay",
		usage: full,
		records: []Record{
			{ID: "used", Size: 20 * mb, FirstDetected: old, InUse: true},
			{ID: "pause", Size: 20 * mb, FirstDetected: old, Pinned: true},
			{ID: "young", Size: 20 * mb, FirstDetected: ago(time.Minute)},
			{ID: "free", Size: 2 * mb, FirstDetected: old, LastUsed: ago(time.Hour)},
		},
		want:     []string{"free"},
		wantFree: 10 * mb,
	}, {
		name:  "same last use: first detected first, then by ID",
		usage: full,
		records: []Record{
			{ID: "b", Size: 4 * mb, FirstDetected: old},
			{ID: "a", Size: 4 * mb, FirstDetected: old},
			{ID: "older", Size: 4 * mb, FirstDetected: ago(2 * time.Hour)},
		},
		want:     []string{"older", "a", "b"},
		wantFree: 10 * mb,
	}, {
		name:   "a high threshold of 100 disables collection",
		policy: Policy{HighThresholdPercent: 100, LowThresholdPercent: 80, MinAge: time.Minute},
		usage:  Usage{CapacityBytes: 100 * mb, AvailableBytes: 0},
		records: []Record{
			{ID: "a", Size: 50 * mb, FirstDetected: old},
		},
	}, {
		name:   "minimum age from the policy",
		policy: Policy{HighThresholdPercent: 50, LowThresholdPercent: 40, MinAge: 10 * time.Second},
		usage:  Usage{CapacityBytes: 100 * mb, AvailableBytes: 45 * mb},
		records: []Record{
			{ID: "a", Size: 10 * mb, FirstDetected: ago(time.Minute)},
			{ID: "b", Size: 10 * mb, FirstDetected: ago(5 * time.Second)},
		},
		want:     []string{"a"},
		wantFree: 15 * mb,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policy := p
			if tt.policy != (Policy{}) {
				policy = tt.policy
			}
			got, free := Select(policy, tt.usage, tt.records, now)
			if !slices.Equal(got, tt.want) || free != tt.wantFree {
				t.Errorf("Select = %q, %d bytes; want %q, %d bytes", got, free, tt.want, tt.wantFree)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, tt := range []struct {
		p  Policy
		ok bool
	}{
		{Policy{}.WithDefaults(), true},
		{Policy{HighThresholdPercent: 100, LowThresholdPercent: 100, MinAge: time.Second}, true},
		{Policy{HighThresholdPercent: 70, LowThresholdPercent: 80, MinAge: time.Second}, false},
		{Policy{HighThresholdPercent: 101, LowThresholdPercent: 80, MinAge: time.Second}, false},
		{Policy{HighThresholdPercent: 85, LowThresholdPercent: 80, MinAge: -time.Second}, false},
	} {
		if err := tt.p.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v.Validate() = %v, want ok %v", tt.p, err, tt.ok)
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                           "docker.io/library/busybox:latest",
		"busybox:1":                         "docker.io/library/busybox:1",
		"bitnami/redis":                     "docker.io/bitnami/redis:latest",
		"docker.io/busybox":                 "docker.io/library/busybox:latest",
		"index.docker.io/library/busybox:1": "docker.io/library/busybox:1",
		"skiff.dev/pause:1":                 "skiff.dev/pause:1",
		"127.0.0.1:5000/app":                "127.0.0.1:5000/app:latest",
		"quay.io/a/b@sha256:00":             "quay.io/a/b@sha256:00",
		"sha256:abcd":                       "sha256:abcd",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}
