package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestGeneratedFileUpToDate fails when k8s.io/api was bumped without
// running go generate in the openapi package.
func TestGeneratedFileUpToDate(t *testing.T) {
	out := filepath.Join(t.TempDir(), "markers.go")
	if err := run(out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "..", "zz_generated.markers.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("zz_generated.markers.go is stale: run go generate ./internal/apiserver/openapi")
	}
}

func TestExtractTags(t *testing.T) {
	lines := []string{"Some text.", "+optional", "+listType=map", "+listMapKey=a", " +listMapKey=b", "not +a marker"}
	want := map[string][]string{"optional": {""}, "listType": {"map"}, "listMapKey": {"a", "b"}}
	if got := extractTags(lines); !reflect.DeepEqual(got, want) {
		t.Errorf("extractTags = %v, want %v", got, want)
	}
}

func TestDescription(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  string
	}{
		{"joins lines", []string{"A b", "c d."}, "A b c d."},
		{"keeps paragraphs", []string{"One.", "", "Two."}, "One.\n\nTwo."},
		{"keeps indented lines", []string{"Example:", "\tcode here", "after"}, "Example:\n\tcode here\nafter"},
		{"drops markers and TODOs", []string{"Text.", "+optional", "TODO: fix"}, "Text."},
		{"stops at ---", []string{"Kept.", "---", "Dropped."}, "Kept."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := description(tt.lines); got != tt.want {
				t.Errorf("description = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDefaultJSON(t *testing.T) {
	consts := map[string]string{"ModeShared": "Shared"}
	tests := map[string]string{
		`"TCP"`:           `"TCP"`,
		`0`:               `0`,
		`{"single": {}}`:  `{"single":{}}`,
		`ref(ModeShared)`: `"Shared"`,
		`ref(Missing)`:    ``,
		`not json`:        ``,
	}
	for in, want := range tests {
		if got := defaultJSON(in, consts); got != want {
			t.Errorf("defaultJSON(%q) = %q, want %q", in, got, want)
		}
	}
}
