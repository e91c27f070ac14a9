package podconfig

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/internal/agent/runtime"
)

// objects is a Getter over fixed objects, answering as the API would.
type objects struct {
	secrets    map[string]*corev1.Secret
	configMaps map[string]*corev1.ConfigMap
}

func (o objects) Secret(ns, name string) (*corev1.Secret, error) {
	if s, ok := o.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name)
}

func (o objects) ConfigMap(ns, name string) (*corev1.ConfigMap, error) {
	if c, ok := o.configMaps[ns+"/"+name]; ok {
		return c, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("configmaps"), name)
}

func testObjects() objects {
	return objects{
		secrets: map[string]*corev1.Secret{
			"ns/db": {Data: map[string][]byte{"password": []byte(`p@$$w0rd "quoted" $(HOME)`), "user": []byte("admin")}},
		},
		configMaps: map[string]*corev1.ConfigMap{
			"ns/cfg": {Data: map[string]string{"mode": "fast", "level": "3", "1bad": "x", "has=eq": "y"}},
		},
	}
}

func envPod(c corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", Labels: map[string]string{"app": "a"}},
		Spec:       corev1.PodSpec{NodeName: "n1", ServiceAccountName: "default", Containers: []corev1.Container{c}},
	}
}

func TestEnvironment(t *testing.T) {
	svc := func(ns, name, ip string, ports ...corev1.ServicePort) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{ClusterIP: ip, Ports: ports}}
	}
	services := []*corev1.Service{
		svc("default", "kubernetes", "10.96.0.1", corev1.ServicePort{Name: "https", Port: 443, Protocol: "TCP"}),
		svc("ns", "my-db", "10.96.0.7", corev1.ServicePort{Port: 5432}, corev1.ServicePort{Name: "metrics", Port: 9187, Protocol: "TCP"}),
		svc("ns", "headless", "None", corev1.ServicePort{Port: 80}),
		svc("other", "elsewhere", "10.96.0.9", corev1.ServicePort{Port: 80}),
	}
	k8sEnv := []runtime.KeyValue{
		{Key: "KUBERNETES_PORT", Value: "tcp://10.96.0.1:443"},
		{Key: "KUBERNETES_PORT_443_TCP", Value: "tcp://10.96.0.1:443"},
		{Key: "KUBERNETES_PORT_443_TCP_ADDR", Value: "10.96.0.1"},
		{Key: "KUBERNETES_PORT_443_TCP_PORT", Value: "443"},
		{Key: "KUBERNETES_PORT_443_TCP_PROTO", Value: "tcp"},
		{Key: "KUBERNETES_SERVICE_HOST", Value: "10.96.0.1"},
		{Key: "KUBERNETES_SERVICE_PORT", Value: "443"},
		{Key: "KUBERNETES_SERVICE_PORT_HTTPS", Value: "443"},
	}
	alloc := corev1.ResourceList{"cpu": resource.MustParse("2"), "memory": resource.MustParse("1Gi")}

	tests := []struct {
		name      string
		container corev1.Container
		noLinks   bool
		want      []runtime.KeyValue // before the kubernetes service vars
		wantAll   []runtime.KeyValue // whole environment, when set
		events    []Event
		err       string
	}{{
		name: "values and expansion in order",
		container: corev1.Container{Env: []corev1.EnvVar{
			{Name: "A", Value: "a"},
			{Name: "B", Value: "$(A)-$(C)-$$(A)-$(KUBERNETES_SERVICE_HOST)"},
			{Name: "C", Value: "c"},
			{Name: "EMPTY"},
		}},
		noLinks: true,
		want:    []runtime.KeyValue{{Key: "A", Value: "a"}, {Key: "B", Value: "a-$(C)-$(A)-10.96.0.1"}, {Key: "C", Value: "c"}, {Key: "EMPTY"}},
	}, {
		name: "secret and configmap keys",
		container: corev1.Container{Env: []corev1.EnvVar{
			{Name: "PASS", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}},
			{Name: "MODE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "mode"}}},
			{Name: "OPT", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "nope", Optional: ptr.To(true)}}},
			{Name: "OPTS", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Key: "k", Optional: ptr.To(true)}}},
		}},
		noLinks: true,
		want:    []runtime.KeyValue{{Key: "PASS", Value: `p@$$w0rd "quoted" $(HOME)`}, {Key: "MODE", Value: "fast"}},
	}, {
		name:      "missing secret",
		container: corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}, Key: "k"}}}}},
		err:       `secret "x" not found`,
	}, {
		name:      "missing secret key",
		container: corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "k"}}}}},
		err:       `couldn't find key k in Secret ns/db`,
	}, {
		name:      "missing configmap",
		container: corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "k"}}}}},
		err:       `configmap "nope" not found`,
	}, {
		name:      "missing configmap key",
		container: corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "k"}}}}},
		err:       `couldn't find key k in ConfigMap ns/cfg`,
	}, {
		name: "envFrom with prefix, env overrides, invalid keys skipped",
		container: corev1.Container{
			EnvFrom: []corev1.EnvFromSource{
				{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}}},
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: ptr.To(true)}},
			},
			Env: []corev1.EnvVar{{Name: "user", Value: "override-$(CFG_mode)"}},
		},
		noLinks: true,
		want: []runtime.KeyValue{
			{Key: "CFG_1bad", Value: "x"}, {Key: "CFG_level", Value: "3"}, {Key: "CFG_mode", Value: "fast"},
			{Key: "password", Value: `p@$$w0rd "quoted" $(HOME)`}, {Key: "user", Value: "override-fast"},
		},
		events: []Event{{Reason: "InvalidEnvironmentVariableNames", Message: "Keys [CFG_has=eq] from the EnvFrom configMap ns/cfg were skipped since they are considered invalid environment variable names."}},
	}, {
		name:      "envFrom missing secret",
		container: corev1.Container{EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}}}}},
		err:       `secret "gone" not found`,
	}, {
		name: "downward API",
		container: corev1.Container{Name: "main", Env: []corev1.EnvVar{
			{Name: "NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			{Name: "IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "HOSTIPS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIPs"}}},
			{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
		}},
		noLinks: true,
		want: []runtime.KeyValue{{Key: "NAME", Value: "p"}, {Key: "NODE", Value: "n1"}, {Key: "IP", Value: "10.1.0.4"},
			{Key: "HOSTIPS", Value: "192.168.0.2,fd00::2"}, {Key: "APP", Value: "a"}, {Key: "MEM", Value: "1024"}},
	}, {
		name:      "bad fieldRef",
		container: corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nope"}}}}},
		err:       "field label not supported: spec.nope",
	}, {
		name:      "service links of the namespace",
		container: corev1.Container{Env: []corev1.EnvVar{{Name: "MY_DB_SERVICE_HOST", Value: "mine"}}},
		wantAll: append([]runtime.KeyValue{{Key: "MY_DB_SERVICE_HOST", Value: "mine"}}, append(k8sEnv,
			runtime.KeyValue{Key: "MY_DB_PORT", Value: "tcp://10.96.0.7:5432"},
			runtime.KeyValue{Key: "MY_DB_PORT_5432_TCP", Value: "tcp://10.96.0.7:5432"},
			runtime.KeyValue{Key: "MY_DB_PORT_5432_TCP_ADDR", Value: "10.96.0.7"},
			runtime.KeyValue{Key: "MY_DB_PORT_5432_TCP_PORT", Value: "5432"},
			runtime.KeyValue{Key: "MY_DB_PORT_5432_TCP_PROTO", Value: "tcp"},
			runtime.KeyValue{Key: "MY_DB_PORT_9187_TCP", Value: "tcp://10.96.0.7:9187"},
			runtime.KeyValue{Key: "MY_DB_PORT_9187_TCP_ADDR", Value: "10.96.0.7"},
			runtime.KeyValue{Key: "MY_DB_PORT_9187_TCP_PORT", Value: "9187"},
			runtime.KeyValue{Key: "MY_DB_PORT_9187_TCP_PROTO", Value: "tcp"},
			runtime.KeyValue{Key: "MY_DB_SERVICE_PORT", Value: "5432"},
			runtime.KeyValue{Key: "MY_DB_SERVICE_PORT_METRICS", Value: "9187"},
		)...),
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := envPod(tc.container)
			if tc.noLinks {
				pod.Spec.EnableServiceLinks = ptr.To(false)
			}
			got, events, err := Environment(pod, &pod.Spec.Containers[0], EnvInput{
				Getter: testObjects(), Services: services, Allocatable: alloc,
				PodIPs: []string{"10.1.0.4"}, HostIPs: []string{"192.168.0.2", "fd00::2"},
			})
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tc.wantAll
			if want == nil {
				want = append(append([]runtime.KeyValue{}, tc.want...), k8sEnv...)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("env:\n got %v\nwant %v", got, want)
			}
			if !reflect.DeepEqual(events, tc.events) {
				t.Errorf("events = %v, want %v", events, tc.events)
			}
		})
	}
}

func TestEnvironmentNotFoundIsNotFound(t *testing.T) {
	pod := envPod(corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}, Key: "k"}}}}})
	_, _, err := Environment(pod, &pod.Spec.Containers[0], EnvInput{Getter: testObjects()})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("IsNotFound(%v) = false", err)
	}
}

func TestExpandCommand(t *testing.T) {
	c := &corev1.Container{Command: []string{"sh", "-c", "echo $(MSG) $$(MSG) $(NOPE)"}, Args: []string{"$(MSG)"}}
	cmd, args := ExpandCommand(c, []runtime.KeyValue{{Key: "MSG", Value: "hi"}})
	if strings.Join(cmd, "|") != "sh|-c|echo hi $(MSG) $(NOPE)" || strings.Join(args, "|") != "hi" {
		t.Fatalf("cmd %q args %q", cmd, args)
	}
	if cmd, args := ExpandCommand(&corev1.Container{}, nil); cmd != nil || args != nil {
		t.Fatalf("empty: %q %q", cmd, args)
	}
}
