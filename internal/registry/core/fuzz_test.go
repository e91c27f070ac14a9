package core

import (
	"testing"

	"skiff.dev/skiff/internal/registry/registrytest"
)

// TestStrategiesNeverPanic feeds every strategy method randomly filled
// objects: bad input must come back as errors, never as a crash.
func TestStrategiesNeverPanic(t *testing.T) {
	registrytest.StrategiesNeverPanic(t, resources(testClock.now), registrytest.NewFiller(42, 2, 8), 30)
}
