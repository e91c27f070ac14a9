package priority

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/internal/admission"
)

type classes map[string]*schedulingv1.PriorityClass

func (c classes) Get(_, name string) (runtime.Object, bool) {
	pc, ok := c[name]
	return pc, ok
}

func (c classes) List(string) []runtime.Object {
	var out []runtime.Object
	for _, pc := range c {
		out = append(out, pc)
	}
	return out
}

func class(name string, value int32, globalDefault bool, policy corev1.PreemptionPolicy) *schedulingv1.PriorityClass {
	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value, GlobalDefault: globalDefault}
	if policy != "" {
		pc.PreemptionPolicy = &policy
	}
	return pc
}

func TestAdmitPod(t *testing.T) {
	high := class("high", 1000, false, corev1.PreemptNever)
	def := class("def", 10, true, "")
	i32 := func(v int32) *int32 { return &v }
	never, lower := corev1.PreemptNever, corev1.PreemptLowerPriority
	for _, tc := range []struct {
		name      string
		classes   classes
		spec      corev1.PodSpec
		wantClass string
		want      string // "priority policy" or the error
	}{
		{name: "no class, no default", classes: classes{}, want: "0 PreemptLowerPriority"},
		{name: "global default", classes: classes{"def": def, "high": high}, wantClass: "def", want: "10 PreemptLowerPriority"},
		{name: "named class", classes: classes{"def": def, "high": high}, spec: corev1.PodSpec{PriorityClassName: "high"}, wantClass: "high", want: "1000 Never"},
		{name: "built-in node critical", classes: classes{}, spec: corev1.PodSpec{PriorityClassName: "system-node-critical"}, wantClass: "system-node-critical", want: "2000001000 PreemptLowerPriority"},
		{name: "built-in cluster critical", classes: classes{}, spec: corev1.PodSpec{PriorityClassName: "system-cluster-critical"}, wantClass: "system-cluster-critical", want: "2000000000 PreemptLowerPriority"},
		{name: "unknown", classes: classes{}, spec: corev1.PodSpec{PriorityClassName: "nope"},
			want: `pods "p" is forbidden: no PriorityClass with name nope was found`},
		{name: "matching priority", classes: classes{"high": high}, spec: corev1.PodSpec{PriorityClassName: "high", Priority: i32(1000), PreemptionPolicy: &never}, wantClass: "high", want: "1000 Never"},
		{name: "disagreeing priority", classes: classes{"high": high}, spec: corev1.PodSpec{PriorityClassName: "high", Priority: i32(5)},
			want: `pods "p" is forbidden: the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name`},
		{name: "disagreeing policy", classes: classes{"high": high}, spec: corev1.PodSpec{PriorityClassName: "high", PreemptionPolicy: &lower},
			want: `pods "p" is forbidden: the string value of PreemptionPolicy (PreemptLowerPriority) must not be provided in pod spec; priority admission controller computed Never from the given PriorityClass name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: tc.spec}
			a := &admission.Attributes{Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("pods"), Name: "p", Object: pod}
			err := Plugin{Classes: tc.classes}.Admit(context.Background(), a)
			var got string
			if err != nil {
				got = err.Error()
			} else {
				got = fmt.Sprintf("%d %s", *pod.Spec.Priority, *pod.Spec.PreemptionPolicy)
				if pod.Spec.PriorityClassName != tc.wantClass {
					t.Errorf("priorityClassName = %q, want %q", pod.Spec.PriorityClassName, tc.wantClass)
				}
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestAdmitPodUpdateKeepsPriority(t *testing.T) {
	v := int32(7)
	old := &corev1.Pod{Spec: corev1.PodSpec{Priority: &v}}
	pod := &corev1.Pod{}
	a := &admission.Attributes{Operation: admission.Update, Object: pod, OldObject: old}
	if err := (Plugin{Classes: classes{}}).Admit(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if pod.Spec.Priority == nil || *pod.Spec.Priority != 7 {
		t.Errorf("priority = %v, want 7", pod.Spec.Priority)
	}
}

func TestValidateOneGlobalDefault(t *testing.T) {
	existing := classes{"def": class("def", 10, true, "")}
	for _, tc := range []struct {
		name string
		pc   *schedulingv1.PriorityClass
		want string
	}{
		{name: "second default", pc: class("other", 5, true, ""),
			want: `priorityclasses.scheduling.k8s.io "other" is forbidden: PriorityClass def is already marked as default. Only one default can exist`},
		{name: "the default itself", pc: class("def", 10, true, "")},
		{name: "not default", pc: class("other", 5, false, "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &admission.Attributes{Operation: admission.Create, Resource: schedulingv1.SchemeGroupVersion.WithResource("priorityclasses"), Name: tc.pc.Name, Object: tc.pc}
			err := Plugin{Classes: existing}.Validate(context.Background(), a)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
