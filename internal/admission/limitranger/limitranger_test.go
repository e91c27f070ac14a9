package limitranger

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/internal/admission"
)

type list []runtime.Object

func (l list) List(string) []runtime.Object { return l }

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func lr(items ...corev1.LimitRangeItem) *corev1.LimitRange {
	return &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "limits", Namespace: "ns"}, Spec: corev1.LimitRangeSpec{Limits: items}}
}

func podWith(containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{Containers: containers}}
}

func ctr(name string, req, lim corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}
}

func TestAdmitDefaults(t *testing.T) {
	ranges := list{lr(corev1.LimitRangeItem{
		Type:           corev1.LimitTypeContainer,
		Default:        rl("cpu", "500m", "memory", "512Mi"),
		DefaultRequest: rl("cpu", "100m", "memory", "256Mi"),
	})}
	for _, tc := range []struct {
		name           string
		pod            *corev1.Pod
		wantReq, wantL corev1.ResourceList
		wantAnnotation string
	}{
		{
			name: "empty container", pod: podWith(ctr("app", nil, nil)),
			wantReq: rl("cpu", "100m", "memory", "256Mi"), wantL: rl("cpu", "500m", "memory", "512Mi"),
			wantAnnotation: "LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app",
		},
		{
			name: "own cpu kept", pod: podWith(ctr("app", rl("cpu", "1"), rl("cpu", "2"))),
			wantReq: rl("cpu", "1", "memory", "256Mi"), wantL: rl("cpu", "2", "memory", "512Mi"),
			wantAnnotation: "LimitRanger plugin set: memory request for container app; memory limit for container app",
		},
		{
			name: "nothing to set", pod: podWith(ctr("app", rl("cpu", "1", "memory", "1Gi"), rl("cpu", "2", "memory", "1Gi"))),
			wantReq: rl("cpu", "1", "memory", "1Gi"), wantL: rl("cpu", "2", "memory", "1Gi"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &admission.Attributes{Operation: admission.Create, Namespace: "ns", Name: "p", Resource: corev1.SchemeGroupVersion.WithResource("pods"), Object: tc.pod}
			if err := (Plugin{LimitRanges: ranges}).Admit(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			r := tc.pod.Spec.Containers[0].Resources
			if !equal(r.Requests, tc.wantReq) || !equal(r.Limits, tc.wantL) {
				t.Errorf("resources %v / %v, want %v / %v", r.Requests, r.Limits, tc.wantReq, tc.wantL)
			}
			if got := tc.pod.Annotations[Annotation]; got != tc.wantAnnotation {
				t.Errorf("annotation %q, want %q", got, tc.wantAnnotation)
			}
		})
	}
}

func equal(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v.Cmp(w) != 0 {
			return false
		}
	}
	return true
}

func TestValidate(t *testing.T) {
	container := lr(corev1.LimitRangeItem{
		Type: corev1.LimitTypeContainer,
		Max:  rl("cpu", "1", "memory", "1Gi"), Min: rl("cpu", "100m"),
		MaxLimitRequestRatio: rl("cpu", "4"),
	})
	podItem := lr(corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: rl("cpu", "1")})
	claim := lr(corev1.LimitRangeItem{Type: corev1.LimitTypePersistentVolumeClaim, Min: rl("storage", "1Gi"), Max: rl("storage", "2Gi")})
	pvc := func(size string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", size)}}}
	}
	for _, tc := range []struct {
		name string
		lr   *corev1.LimitRange
		obj  runtime.Object
		res  string
		want string
	}{
		{name: "within", lr: container, obj: podWith(ctr("a", rl("cpu", "500m"), rl("cpu", "1", "memory", "1Gi"))), res: "pods"},
		{name: "over max", lr: container, obj: podWith(ctr("a", rl("cpu", "1"), rl("cpu", "2", "memory", "1Gi"))), res: "pods",
			want: `pods "p" is forbidden: maximum cpu usage per Container is 1, but limit is 2`},
		{name: "no limit for max", lr: container, obj: podWith(ctr("a", rl("cpu", "500m"), rl("cpu", "1"))), res: "pods",
			want: `pods "p" is forbidden: maximum memory usage per Container is 1Gi.  No limit is specified`},
		{name: "under min", lr: container, obj: podWith(ctr("a", rl("cpu", "50m"), rl("cpu", "100m", "memory", "1Gi"))), res: "pods",
			want: `pods "p" is forbidden: minimum cpu usage per Container is 100m, but request is 50m`},
		{name: "ratio", lr: container, obj: podWith(ctr("a", rl("cpu", "100m"), rl("cpu", "1", "memory", "1Gi"))), res: "pods",
			want: `pods "p" is forbidden: cpu max limit to request ratio per Container is 4, but provided ratio is 10.000000`},
		{name: "two errors", lr: container, obj: podWith(ctr("a", rl("cpu", "50m"), rl("cpu", "2", "memory", "1Gi"))), res: "pods",
			want: `pods "p" is forbidden: [minimum cpu usage per Container is 100m, but request is 50m, maximum cpu usage per Container is 1, but limit is 2, cpu max limit to request ratio per Container is 4, but provided ratio is 40.000000]`},
		{name: "pod total", lr: podItem, obj: podWith(ctr("a", nil, rl("cpu", "600m")), ctr("b", nil, rl("cpu", "600m"))), res: "pods",
			want: `pods "p" is forbidden: maximum cpu usage per Pod is 1, but limit is 1200m`},
		{name: "claim within", lr: claim, obj: pvc("1Gi"), res: "persistentvolumeclaims"},
		{name: "claim too big", lr: claim, obj: pvc("5Gi"), res: "persistentvolumeclaims",
			want: `persistentvolumeclaims "p" is forbidden: maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 5Gi`},
		{name: "claim too small", lr: claim, obj: pvc("500Mi"), res: "persistentvolumeclaims",
			want: `persistentvolumeclaims "p" is forbidden: minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &admission.Attributes{Operation: admission.Create, Namespace: "ns", Name: "p", Resource: corev1.SchemeGroupVersion.WithResource(tc.res), Object: tc.obj}
			err := Plugin{LimitRanges: list{tc.lr}}.Validate(context.Background(), a)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
