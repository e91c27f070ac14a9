package defaulttolerationseconds

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/internal/admission"
)

func TestAdmit(t *testing.T) {
	secs := func(n int64) *int64 { return &n }
	notReady := corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(300)}
	unreachable := corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(60)}
	own := corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(5)}
	everything := corev1.Toleration{Operator: corev1.TolerationOpExists}
	noSchedule := corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	for _, tc := range []struct {
		name string
		op   admission.Operation
		in   []corev1.Toleration
		want []corev1.Toleration
	}{
		{name: "none", op: admission.Create, want: []corev1.Toleration{notReady, unreachable}},
		{name: "own not-ready kept", op: admission.Create, in: []corev1.Toleration{own}, want: []corev1.Toleration{own, unreachable}},
		{name: "tolerates everything", op: admission.Create, in: []corev1.Toleration{everything}, want: []corev1.Toleration{everything}},
		{name: "NoSchedule is not NoExecute", op: admission.Create, in: []corev1.Toleration{noSchedule}, want: []corev1.Toleration{noSchedule, notReady, unreachable}},
		{name: "update untouched", op: admission.Update, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: tc.in}}
			a := &admission.Attributes{Operation: tc.op, Resource: corev1.SchemeGroupVersion.WithResource("pods"), Object: pod}
			if err := (Plugin{NotReadySeconds: 300, UnreachableSeconds: 60}).Admit(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			if got, want := fmt.Sprint(describe(pod.Spec.Tolerations)), fmt.Sprint(describe(tc.want)); got != want {
				t.Errorf("tolerations\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func describe(ts []corev1.Toleration) []string {
	var out []string
	for _, t := range ts {
		s := fmt.Sprintf("%s %s %s", t.Key, t.Operator, t.Effect)
		if t.TolerationSeconds != nil {
			s += fmt.Sprintf(" %ds", *t.TolerationSeconds)
		}
		out = append(out, s)
	}
	return out
}
