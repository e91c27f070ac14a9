package batch

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/randfill"

	"skiff.dev/skiff/internal/registry"
)

// TestStrategiesNeverPanic feeds every strategy method randomly filled
// objects: bad input must come back as errors, never as a crash.
func TestStrategiesNeverPanic(t *testing.T) {
	ctx := context.Background()
	f := randfill.NewWithSeed(7).NilChance(0.3).NumElements(0, 3).MaxDepth(9).Funcs(
		// Raw JSON only: an embedded object is an interface.
		func(e *runtime.RawExtension, c randfill.Continue) { c.Fill(&e.Raw) },
	)
	for _, r := range Resources() {
		t.Run(r.GroupVersion.Version+"/"+r.Resource, func(t *testing.T) {
			for i := 0; i < 40; i++ {
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
	if r.Scale != nil {
		r.Scale.Get(obj)
		r.Scale.Set(obj, 3)
	}
	s.PrepareForCreate(ctx, obj)
	_ = s.Validate(ctx, obj)
}
