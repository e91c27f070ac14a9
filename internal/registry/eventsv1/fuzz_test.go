package eventsv1

import (
	"testing"

	"skiff.dev/skiff/internal/registry/registrytest"
)

// TestStrategiesNeverPanic feeds every strategy method randomly filled
// objects: bad input must come back as errors, never as a crash.
func TestStrategiesNeverPanic(t *testing.T) {
	registrytest.StrategiesNeverPanic(t, Resources(), registrytest.NewFiller(7, 3, 9), 40)
}
