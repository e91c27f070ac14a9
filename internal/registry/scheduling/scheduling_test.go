package scheduling

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidate(t *testing.T) {
	never := corev1.PreemptNever
	cases := []struct {
		name   string
		pc     schedulingv1.PriorityClass
		path   string
		typ    field.ErrorType
		detail string
	}{
		{name: "user class", pc: schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000, PreemptionPolicy: &never}},
		{name: "system class as defined", pc: *SystemPriorityClasses()[0]},
		{"user value too high", schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: HighestUserDefinablePriority + 1},
			"value", field.ErrorTypeForbidden, "maximum allowed value of a user defined priority is 1000000000"},
		{"unknown system class", schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-mine"}},
			"metadata.name", field.ErrorTypeForbidden, "system-mine is not a known system priority class"},
		{"system class wrong value", schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-cluster-critical"}, Value: 5},
			"metadata.name", field.ErrorTypeForbidden, "value of system-cluster-critical PriorityClass must be 2000000000"},
		{"preemption policy", schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "x"}, PreemptionPolicy: ptrTo(corev1.PreemptionPolicy("Sometimes"))},
			"preemptionPolicy", field.ErrorTypeNotSupported, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := priorityClassStrategy{}.Validate(context.Background(), &tc.pc)
			if tc.path == "" {
				if len(errs) != 0 {
					t.Fatalf("errors = %v", errs)
				}
				return
			}
			if len(errs) != 1 || errs[0].Field != tc.path || errs[0].Type != tc.typ || !strings.Contains(errs[0].Error(), tc.detail) {
				t.Fatalf("errors = %v", errs)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestDefaultAndUpdate(t *testing.T) {
	old := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "batch"}, Value: 10}
	priorityClassStrategy{}.Default(old)
	if *old.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Fatal("preemptionPolicy not defaulted")
	}
	pc := old.DeepCopy()
	pc.Description = "batch jobs"
	pc.GlobalDefault = true
	if errs := (priorityClassStrategy{}).ValidateUpdate(context.Background(), pc, old); len(errs) != 0 {
		t.Fatalf("errors = %v", errs)
	}
	pc.Value = 11
	pc.PreemptionPolicy = ptrTo(corev1.PreemptNever)
	errs := priorityClassStrategy{}.ValidateUpdate(context.Background(), pc, old)
	if len(errs) != 2 || errs[0].Field != "value" || errs[0].Type != field.ErrorTypeForbidden || errs[1].Field != "preemptionPolicy" {
		t.Fatalf("errors = %v", errs)
	}
}

func TestRow(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := priorityClassStrategy{now: func() time.Time { return now }}
	pc := SystemPriorityClasses()[0]
	pc.CreationTimestamp = metav1.NewTime(now.Add(-48 * time.Hour))
	priorityClassStrategy{}.Default(pc)
	want := []interface{}{"system-node-critical", int64(2000001000), false, "2d", "PreemptLowerPriority"}
	if row := s.Row(pc); !reflect.DeepEqual(row, want) {
		t.Fatalf("row = %#v", row)
	}
}
