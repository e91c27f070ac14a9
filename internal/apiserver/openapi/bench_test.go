package openapi

import "testing"

// The benchmarks measure what the first request for each document costs
// with about sixty kinds (the documents are built lazily, not at start-up).

func BenchmarkBuildV2(b *testing.B) {
	kinds := testKinds()
	for b.Loop() {
		if _, err := BuildV2(kinds); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildV3(b *testing.B) {
	kinds := testKinds()
	for b.Loop() {
		if _, err := BuildV3(kinds); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkV2ToProto(b *testing.B) {
	doc, err := BuildV2(testKinds())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := v2ToProto(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDefinitions(b *testing.B) {
	kinds := testKinds()
	for b.Loop() {
		if _, err := Definitions(kinds); err != nil {
			b.Fatal(err)
		}
	}
}
