package coordination

import (
	"context"
	"reflect"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func ptrTo[T any](v T) *T { return &v }

func TestLeaseValidate(t *testing.T) {
	cases := []struct {
		name string
		spec coordinationv1.LeaseSpec
		want map[string]field.ErrorType
	}{
		{"valid", coordinationv1.LeaseSpec{HolderIdentity: ptrTo("node-1"), LeaseDurationSeconds: ptrTo[int32](40)}, nil},
		{"zero duration", coordinationv1.LeaseSpec{LeaseDurationSeconds: ptrTo[int32](0)}, map[string]field.ErrorType{
			"spec.leaseDurationSeconds": field.ErrorTypeInvalid,
		}},
		{"negative transitions", coordinationv1.LeaseSpec{LeaseTransitions: ptrTo[int32](-1)}, map[string]field.ErrorType{
			"spec.leaseTransitions": field.ErrorTypeInvalid,
		}},
		{"unknown strategy", coordinationv1.LeaseSpec{Strategy: ptrTo(coordinationv1.CoordinatedLeaseStrategy("Newest"))}, map[string]field.ErrorType{
			"spec.strategy.strategy": field.ErrorTypeNotSupported,
		}},
		{"custom strategy", coordinationv1.LeaseSpec{Strategy: ptrTo(coordinationv1.CoordinatedLeaseStrategy("example.com/mine"))}, nil},
		{"preferred holder without strategy", coordinationv1.LeaseSpec{PreferredHolder: ptrTo("a")}, map[string]field.ErrorType{
			"spec.preferredHolder": field.ErrorTypeForbidden,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := leaseStrategy{}.Validate(context.Background(), &coordinationv1.Lease{Spec: tc.spec})
			got := map[string]field.ErrorType{}
			for _, e := range errs {
				got[e.Field] = e.Type
			}
			if len(got) != len(tc.want) || (len(got) > 0 && !reflect.DeepEqual(got, tc.want)) {
				t.Fatalf("errors = %v, want %v", errs, tc.want)
			}
		})
	}
}

func TestLeaseDropsBetaFields(t *testing.T) {
	ctx := context.Background()
	l := &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{Strategy: ptrTo(coordinationv1.OldestEmulationVersion), PreferredHolder: ptrTo("a")}}
	leaseStrategy{}.PrepareForCreate(ctx, l)
	if l.Spec.Strategy != nil || l.Spec.PreferredHolder != nil {
		t.Fatalf("spec = %+v", l.Spec)
	}
	old := &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{Strategy: ptrTo(coordinationv1.OldestEmulationVersion)}}
	next := &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{Strategy: ptrTo(coordinationv1.OldestEmulationVersion), PreferredHolder: ptrTo("a")}}
	leaseStrategy{}.PrepareForUpdate(ctx, next, old)
	if next.Spec.Strategy == nil || next.Spec.PreferredHolder != nil {
		t.Fatalf("spec = %+v", next.Spec)
	}
}

func TestLeaseRow(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := leaseStrategy{now: func() time.Time { return now }}
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "kube-scheduler", CreationTimestamp: metav1.NewTime(now.Add(-5 * 24 * time.Hour))},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptrTo("node-1_abc")}}
	if row := s.Row(l); !reflect.DeepEqual(row, []interface{}{"kube-scheduler", "node-1_abc", "5d"}) {
		t.Fatalf("row = %#v", row)
	}
	if len(s.ColumnDefinitions()) != 3 {
		t.Fatal("columns")
	}
}
