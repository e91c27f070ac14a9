package serviceaccount

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/auth/authn"
)

// accounts is an in-memory Accounts; appearAfter makes the "default"
// account show up only from the given lookup on (the controller racing
// the pod).
type accounts struct {
	sas         map[string]*corev1.ServiceAccount
	appearAfter int
	lookups     int
}

func (f *accounts) ServiceAccount(_ context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	f.lookups++
	if sa, ok := f.sas[ns+"/"+name]; ok && f.lookups > f.appearAfter {
		return sa, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("serviceaccounts"), name)
}

func sa(name string, mutate ...func(*corev1.ServiceAccount)) *corev1.ServiceAccount {
	s := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
	for _, m := range mutate {
		m(s)
	}
	return s
}

// upstreamVolume is the volume as upstream's admission adds it, spelled
// out rather than built from TokenVolumeSource.
var upstreamVolume = corev1.Volume{
	Name: "kube-api-access-abcde",
	VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr.To[int32](0o644),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3607)}},
			{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
			}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
				Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
			}}}},
		},
	}},
}

var tokenMount = corev1.VolumeMount{Name: "kube-api-access-abcde", ReadOnly: true, MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}

func TestAdmit(t *testing.T) {
	own := corev1.VolumeMount{Name: "mine", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}
	noAuto := func(s *corev1.ServiceAccount) { s.AutomountServiceAccountToken = ptr.To(false) }
	enforce := func(s *corev1.ServiceAccount) {
		s.Annotations = map[string]string{EnforceMountableSecretsAnnotation: "true"}
		s.Secrets = []corev1.ObjectReference{{Name: "allowed"}}
	}
	for _, tc := range []struct {
		name        string
		accounts    []*corev1.ServiceAccount
		appearAfter int
		pod         corev1.PodSpec
		annotations map[string]string
		want        corev1.PodSpec // ignored when wantErr is set
		wantErr     string
	}{{
		name:     "default account and token",
		accounts: []*corev1.ServiceAccount{sa("default")},
		pod:      corev1.PodSpec{InitContainers: []corev1.Container{{Name: "i"}}, Containers: []corev1.Container{{Name: "a"}, {Name: "b"}}},
		want: corev1.PodSpec{ServiceAccountName: "default", DeprecatedServiceAccount: "default",
			InitContainers: []corev1.Container{{Name: "i", VolumeMounts: []corev1.VolumeMount{tokenMount}}},
			Containers: []corev1.Container{{Name: "a", VolumeMounts: []corev1.VolumeMount{tokenMount}},
				{Name: "b", VolumeMounts: []corev1.VolumeMount{tokenMount}}},
			Volumes: []corev1.Volume{upstreamVolume}},
	}, {
		name:        "default account created while admission waits",
		accounts:    []*corev1.ServiceAccount{sa("default")},
		appearAfter: 5,
		pod:         corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}, AutomountServiceAccountToken: ptr.To(false)},
		want:        corev1.PodSpec{ServiceAccountName: "default", DeprecatedServiceAccount: "default", Containers: []corev1.Container{{Name: "a"}}, AutomountServiceAccountToken: ptr.To(false)},
	}, {
		name:    "default account missing",
		pod:     corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}},
		wantErr: `pods "p" is forbidden: error looking up service account ns/default: serviceaccount "default" not found`,
	}, {
		name:     "named account missing",
		accounts: []*corev1.ServiceAccount{sa("default")},
		pod:      corev1.PodSpec{ServiceAccountName: "robot", Containers: []corev1.Container{{Name: "a"}}},
		wantErr:  `pods "p" is forbidden: error looking up service account ns/robot: serviceaccount "robot" not found`,
	}, {
		name:     "automount false on the pod",
		accounts: []*corev1.ServiceAccount{sa("default")},
		pod:      corev1.PodSpec{AutomountServiceAccountToken: ptr.To(false), Containers: []corev1.Container{{Name: "a"}}},
		want:     corev1.PodSpec{ServiceAccountName: "default", DeprecatedServiceAccount: "default", AutomountServiceAccountToken: ptr.To(false), Containers: []corev1.Container{{Name: "a"}}},
	}, {
		name:     "automount false on the account",
		accounts: []*corev1.ServiceAccount{sa("robot", noAuto)},
		pod:      corev1.PodSpec{ServiceAccountName: "robot", Containers: []corev1.Container{{Name: "a"}}},
		want:     corev1.PodSpec{ServiceAccountName: "robot", Containers: []corev1.Container{{Name: "a"}}},
	}, {
		name:     "the pod's true wins over the account's false",
		accounts: []*corev1.ServiceAccount{sa("robot", noAuto)},
		pod:      corev1.PodSpec{ServiceAccountName: "robot", AutomountServiceAccountToken: ptr.To(true), Containers: []corev1.Container{{Name: "a"}}},
		want: corev1.PodSpec{ServiceAccountName: "robot", AutomountServiceAccountToken: ptr.To(true),
			Containers: []corev1.Container{{Name: "a", VolumeMounts: []corev1.VolumeMount{tokenMount}}}, Volumes: []corev1.Volume{upstreamVolume}},
	}, {
		name:     "a container's own mount at the path is kept",
		accounts: []*corev1.ServiceAccount{sa("default")},
		pod: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", VolumeMounts: []corev1.VolumeMount{own}}, {Name: "b"}},
			Volumes: []corev1.Volume{{Name: "mine"}}},
		want: corev1.PodSpec{ServiceAccountName: "default", DeprecatedServiceAccount: "default",
			Containers: []corev1.Container{{Name: "a", VolumeMounts: []corev1.VolumeMount{own}}, {Name: "b", VolumeMounts: []corev1.VolumeMount{tokenMount}}},
			Volumes:    []corev1.Volume{{Name: "mine"}, upstreamVolume}},
	}, {
		name:     "no volume when every container mounts its own",
		accounts: []*corev1.ServiceAccount{sa("default")},
		pod:      corev1.PodSpec{Containers: []corev1.Container{{Name: "a", VolumeMounts: []corev1.VolumeMount{own}}}, Volumes: []corev1.Volume{{Name: "mine"}}},
		want: corev1.PodSpec{ServiceAccountName: "default", DeprecatedServiceAccount: "default",
			Containers: []corev1.Container{{Name: "a", VolumeMounts: []corev1.VolumeMount{own}}}, Volumes: []corev1.Volume{{Name: "mine"}}},
	}, {
		name:     "an existing kube-api-access volume is reused",
		accounts: []*corev1.ServiceAccount{sa("default")},
		pod:      corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}, Volumes: []corev1.Volume{{Name: "kube-api-access-zzzzz"}}},
		want: corev1.PodSpec{ServiceAccountName: "default", DeprecatedServiceAccount: "default",
			Containers: []corev1.Container{{Name: "a", VolumeMounts: []corev1.VolumeMount{{Name: "kube-api-access-zzzzz", ReadOnly: true, MountPath: MountPath}}}},
			Volumes:    []corev1.Volume{{Name: "kube-api-access-zzzzz"}}},
	}, {
		name:     "image pull secrets from the account",
		accounts: []*corev1.ServiceAccount{sa("default", func(s *corev1.ServiceAccount) { s.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "reg"}} })},
		pod:      corev1.PodSpec{AutomountServiceAccountToken: ptr.To(false), Containers: []corev1.Container{{Name: "a"}}},
		want: corev1.PodSpec{ServiceAccountName: "default", DeprecatedServiceAccount: "default", AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{{Name: "a"}}, ImagePullSecrets: []corev1.LocalObjectReference{{Name: "reg"}}},
	}, {
		name:     "mountable secrets enforced: volume",
		accounts: []*corev1.ServiceAccount{sa("default", enforce)},
		pod: corev1.PodSpec{AutomountServiceAccountToken: ptr.To(false), Containers: []corev1.Container{{Name: "a"}},
			Volumes: []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "other"}}}}},
		wantErr: `pods "p" is forbidden: volume with secret.secretName="other" is not allowed because service account default does not reference that secret`,
	}, {
		name:     "mountable secrets enforced: env",
		accounts: []*corev1.ServiceAccount{sa("default", enforce)},
		pod: corev1.PodSpec{AutomountServiceAccountToken: ptr.To(false), Containers: []corev1.Container{{Name: "a", Env: []corev1.EnvVar{{Name: "PW",
			ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "other"}, Key: "k"}}}}}}},
		wantErr: `pods "p" is forbidden: container a with envVar PW referencing secret.secretName="other" is not allowed because service account default does not reference that secret`,
	}, {
		name:     "mountable secrets enforced: listed secret allowed",
		accounts: []*corev1.ServiceAccount{sa("default", enforce)},
		pod: corev1.PodSpec{AutomountServiceAccountToken: ptr.To(false), Containers: []corev1.Container{{Name: "a"}},
			Volumes: []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "allowed"}}}}},
		want: corev1.PodSpec{ServiceAccountName: "default", DeprecatedServiceAccount: "default", AutomountServiceAccountToken: ptr.To(false), Containers: []corev1.Container{{Name: "a"}},
			Volumes: []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "allowed"}}}}},
	}, {
		name:        "mirror pod untouched",
		annotations: map[string]string{mirrorPodAnnotation: "x"},
		pod:         corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}},
		want:        corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}},
	}, {
		name:        "mirror pod with a service account",
		annotations: map[string]string{mirrorPodAnnotation: "x"},
		pod:         corev1.PodSpec{ServiceAccountName: "default", DeprecatedServiceAccount: "default", Containers: []corev1.Container{{Name: "a"}}},
		wantErr:     `pods "p" is forbidden: a mirror pod may not reference service accounts`,
	}, {
		name:        "mirror pod with a secret",
		annotations: map[string]string{mirrorPodAnnotation: "x"},
		pod: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}},
			Volumes: []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "x"}}}}},
		wantErr: `pods "p" is forbidden: a mirror pod may not reference secrets`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			accts := &accounts{sas: map[string]*corev1.ServiceAccount{}, appearAfter: tc.appearAfter}
			for _, s := range tc.accounts {
				accts.sas[s.Namespace+"/"+s.Name] = s
			}
			p := Plugin{Accounts: accts, RetryInterval: time.Millisecond, NameSuffix: func() string { return "abcde" }}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", Annotations: tc.annotations}, Spec: tc.pod}
			a := &admission.Attributes{Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("pods"),
				Namespace: "ns", Name: "p", Object: pod, User: &authn.User{Name: "u"}}
			chain := admission.NewChain(p)
			err := chain.Admit(context.Background(), a)
			if err == nil {
				err = chain.Validate(context.Background(), a)
			}
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %s", err, tc.wantErr)
				}
				if !apierrors.IsForbidden(err) {
					t.Errorf("error %v is not Forbidden", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tc.want, pod.Spec) {
				got, _ := json.Marshal(pod.Spec)
				want, _ := json.Marshal(tc.want)
				t.Errorf("pod spec\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestIgnored(t *testing.T) {
	p := Plugin{Accounts: &accounts{}, RetryInterval: time.Millisecond}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}}
	for _, a := range []*admission.Attributes{
		{Operation: admission.Update, Resource: corev1.SchemeGroupVersion.WithResource("pods"), Object: pod},
		{Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("pods"), Subresource: "binding", Object: &corev1.Binding{}},
		{Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("configmaps"), Object: &corev1.ConfigMap{}},
	} {
		if err := p.Admit(context.Background(), a); err != nil {
			t.Errorf("%s %s: %v", a.Operation, a.Resource.Resource, err)
		}
	}
	if pod.Spec.ServiceAccountName != "" {
		t.Errorf("updated pod got service account %q", pod.Spec.ServiceAccountName)
	}
}

func TestRandomSuffix(t *testing.T) {
	s := randomSuffix()
	if len(s) != 5 || strings.Trim(s, "bcdfghjklmnpqrstvwxz2456789") != "" {
		t.Errorf("suffix %q", s)
	}
}
