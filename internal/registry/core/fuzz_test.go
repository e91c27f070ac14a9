package core

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/randfill"

	"skiff.dev/skiff/internal/registry"
)

// TestStrategiesNeverPanic feeds every strategy randomly filled objects:
// bad input must come back as errors, never as a crash.
func TestStrategiesNeverPanic(t *testing.T) {
	ctx := context.Background()
	f := randfill.NewWithSeed(42).NilChance(0.3).NumElements(0, 2).MaxDepth(8)
	for _, r := range resources(testClock.now) {
		t.Run(r.Resource, func(t *testing.T) {
			for i := 0; i < 30; i++ {
				obj, old := r.New(), r.New()
				f.Fill(obj)
				f.Fill(old)
				exercise(ctx, r, obj, old)
			}
		})
	}
}

func exercise(ctx context.Context, r registry.Resource, obj, old runtime.Object) {
	s := r.Strategy
	s.Default(obj)
	s.Default(old)
	_ = s.Validate(ctx, obj)
	_ = s.ValidateUpdate(ctx, obj, old)
	s.PrepareForUpdate(ctx, obj, old)
	_ = s.ValidateUpdate(ctx, obj, old)
	if ss, ok := s.(registry.StatusStrategy); ok {
		_ = ss.ValidateStatusUpdate(ctx, obj, old)
	}
	if mv, ok := s.(registry.MetaValidator); ok {
		_ = mv.ValidateMeta(ctx, obj, old)
	}
	if tc, ok := s.(registry.TableConvertor); ok {
		_ = tc.Row(obj)
	}
	if ff, ok := s.(registry.FieldsFunc); ok {
		_ = ff.SelectableFields(obj)
	}
	if wf, ok := s.(registry.WarningsFunc); ok {
		_ = wf.Warnings(ctx, obj, nil)
	}
	if gd, ok := s.(registry.GracefulDeleter); ok {
		_ = gd.GracePeriod(obj, nil)
	}
	if r.Scale != nil {
		r.Scale.Get(obj)
		r.Scale.Set(obj, 3)
	}
	s.PrepareForCreate(ctx, obj)
	_ = s.Validate(ctx, obj)
}
