// Package registrytest holds checks every resource group's strategies
// must pass, for the registry packages' tests.
package registrytest

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/randfill"

	"skiff.dev/skiff/internal/registry"
)

// NewFiller returns the random filler the registry packages' tests use:
// the given seed, nil fields three times in ten, short lists, and raw JSON
// only in RawExtensions (an embedded object is an interface).
func NewFiller(seed int64, maxElements, maxDepth int) *randfill.Filler {
	return randfill.NewWithSeed(seed).NilChance(0.3).NumElements(0, maxElements).MaxDepth(maxDepth).Funcs(
		func(e *runtime.RawExtension, c randfill.Continue) { c.Fill(&e.Raw) },
	)
}

// StrategiesNeverPanic feeds every strategy method of resources objects
// filled by f, rounds times per resource: bad input must come back as
// errors, never as a crash, and a table row must have a cell per column.
func StrategiesNeverPanic(t *testing.T, resources []registry.Resource, f *randfill.Filler, rounds int) {
	t.Helper()
	ctx := context.Background()
	for _, r := range resources {
		t.Run(r.GroupVersion.Version+"/"+r.Resource, func(t *testing.T) {
			for i := 0; i < rounds; i++ {
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
	_ = s.Validate(ctx, obj) // undefaulted first: clients may skip fields
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
		_ = mv.ValidateMeta(ctx, obj, nil)
		_ = mv.ValidateMeta(ctx, obj, old)
	}
	if tc, ok := s.(registry.TableConvertor); ok {
		if cells, cols := tc.Row(obj), tc.ColumnDefinitions(); len(cells) != len(cols) {
			panic("row and columns disagree")
		}
	}
	if ff, ok := s.(registry.FieldsFunc); ok {
		_ = ff.SelectableFields(obj)
	}
	if wf, ok := s.(registry.WarningsFunc); ok {
		_ = wf.Warnings(ctx, obj, nil)
		_ = wf.Warnings(ctx, obj, old)
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
