package node_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
	"skiff.dev/skiff/internal/auth/node"
	"skiff.dev/skiff/internal/auth/rbac/bootstrap"
)

// objects is node.Objects over fixed slices.
type objects struct {
	pods   []*corev1.Pod
	claims []*corev1.PersistentVolumeClaim
}

func (o objects) Pods(ns string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range o.pods {
		if ns == "" || p.Namespace == ns {
			out = append(out, p)
		}
	}
	return out
}

func (o objects) PersistentVolumeClaim(ns, name string) (*corev1.PersistentVolumeClaim, bool) {
	for _, c := range o.claims {
		if c.Namespace == ns && c.Name == name {
			return c, true
		}
	}
	return nil, false
}

func pod(name, nodeName string, spec corev1.PodSpec) *corev1.Pod {
	spec.NodeName = nodeName
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Spec: spec}
}

func nodeUser(name string) *authn.User {
	return &authn.User{Name: "system:node:" + name, Groups: []string{"system:nodes", authn.GroupAuthenticated}}
}

func res(verb, group, resource, sub, ns, name string) authz.Attributes {
	return authz.Attributes{User: nodeUser("n1"), Verb: verb, IsResourceRequest: true, APIGroup: group,
		APIVersion: "v1", Resource: resource, Subresource: sub, Namespace: ns, Name: name}
}

func TestAuthorize(t *testing.T) {
	objs := objects{
		pods: []*corev1.Pod{
			pod("mine", "n1", corev1.PodSpec{
				ServiceAccountName: "sa-mine",
				ImagePullSecrets:   []corev1.LocalObjectReference{{Name: "pull"}},
				Containers: []corev1.Container{{Name: "c", Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
					SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "env-secret"}}}}},
					EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "env-cm"}}}}}},
				InitContainers: []corev1.Container{{Name: "i", EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "init-secret"}}}}}},
				Volumes: []corev1.Volume{
					{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "vol-secret"}}},
					{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "vol-cm"}}}},
					{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
						{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}}},
						{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "proj-secret"}}}}}}},
					{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "claim"}}},
					{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}},
				},
			}),
			pod("theirs", "n2", corev1.PodSpec{
				ServiceAccountName: "sa-theirs",
				Volumes: []corev1.Volume{
					{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "other-secret"}}},
					{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "other-claim"}}},
				},
			}),
			pod("pending", "", corev1.PodSpec{
				Volumes: []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "pending-secret"}}}},
			}),
		},
		claims: []*corev1.PersistentVolumeClaim{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "claim"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-mine"}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "other-claim"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-theirs"}},
		},
	}
	z := node.Authorizer{Objects: objs, Rules: bootstrap.NodeRules()}
	noRelation := "no relationship found between node 'n1' and this object"
	cases := []struct {
		name   string
		attrs  authz.Attributes
		want   authz.Decision
		reason string
	}{
		{"own node get", res("get", "", "nodes", "", "", "n1"), authz.Allow, ""},
		{"own node status", res("patch", "", "nodes", "status", "", "n1"), authz.Allow, ""},
		{"node create", res("create", "", "nodes", "", "", ""), authz.Allow, ""},
		{"node delete", res("delete", "", "nodes", "", "", "n1"), authz.NoOpinion, ""},
		{"pods list (no field selector scoping)", res("list", "", "pods", "", "", ""), authz.Allow, ""},
		{"pod status", res("patch", "", "pods", "status", "ns", "mine"), authz.Allow, ""},
		{"pod update", res("update", "", "pods", "", "ns", "mine"), authz.NoOpinion, ""},
		{"pod exec", res("create", "", "pods", "exec", "ns", "mine"), authz.NoOpinion, ""},
		{"secret of bound pod (volume)", res("get", "", "secrets", "", "ns", "vol-secret"), authz.Allow, ""},
		{"secret of bound pod (env)", res("get", "", "secrets", "", "ns", "env-secret"), authz.Allow, ""},
		{"secret of bound pod (init envFrom)", res("get", "", "secrets", "", "ns", "init-secret"), authz.Allow, ""},
		{"secret of bound pod (pull)", res("watch", "", "secrets", "", "ns", "pull"), authz.Allow, ""},
		{"secret of bound pod (projected)", res("get", "", "secrets", "", "ns", "proj-secret"), authz.Allow, ""},
		{"secret of another node's pod", res("get", "", "secrets", "", "ns", "other-secret"), authz.NoOpinion, noRelation},
		{"secret of an unbound pod", res("get", "", "secrets", "", "ns", "pending-secret"), authz.NoOpinion, noRelation},
		{"secret in another namespace", res("get", "", "secrets", "", "other", "vol-secret"), authz.NoOpinion, noRelation},
		{"secrets list", res("list", "", "secrets", "", "ns", ""), authz.NoOpinion, "No Object name found"},
		{"secret update", res("update", "", "secrets", "", "ns", "vol-secret"), authz.NoOpinion, "can only read resources of this type"},
		{"configmap of bound pod", res("get", "", "configmaps", "", "ns", "vol-cm"), authz.Allow, ""},
		{"configmap of bound pod (envFrom)", res("get", "", "configmaps", "", "ns", "env-cm"), authz.Allow, ""},
		{"configmap of bound pod (projected)", res("get", "", "configmaps", "", "ns", "kube-root-ca.crt"), authz.Allow, ""},
		{"configmap unrelated", res("get", "", "configmaps", "", "ns", "x"), authz.NoOpinion, noRelation},
		{"claim of bound pod", res("get", "", "persistentvolumeclaims", "", "ns", "claim"), authz.Allow, ""},
		{"ephemeral claim of bound pod", res("get", "", "persistentvolumeclaims", "", "ns", "mine-scratch"), authz.Allow, ""},
		{"claim of another node's pod", res("get", "", "persistentvolumeclaims", "", "ns", "other-claim"), authz.NoOpinion, noRelation},
		{"claim list", res("list", "", "persistentvolumeclaims", "", "ns", ""), authz.NoOpinion, "can only get individual resources of this type"},
		{"claim status of bound pod", res("patch", "", "persistentvolumeclaims", "status", "ns", "claim"), authz.Allow, ""},
		{"volume of bound pod's claim", res("get", "", "persistentvolumes", "", "", "pv-mine"), authz.Allow, ""},
		{"volume of another node's claim", res("get", "", "persistentvolumes", "", "", "pv-theirs"), authz.NoOpinion, noRelation},
		{"token for bound pod's account", res("create", "", "serviceaccounts", "token", "ns", "sa-mine"), authz.Allow, ""},
		{"token for another node's account", res("create", "", "serviceaccounts", "token", "ns", "sa-theirs"), authz.NoOpinion, noRelation},
		{"service account get", res("get", "", "serviceaccounts", "", "ns", "sa-mine"), authz.NoOpinion, "can only create tokens for individual service accounts"},
		{"service account other subresource", res("create", "", "serviceaccounts", "x", "ns", "sa-mine"), authz.NoOpinion, "can only create token subresource of serviceaccount"},
		{"own lease", res("update", "coordination.k8s.io", "leases", "", "kube-node-lease", "n1"), authz.Allow, ""},
		{"lease create", res("create", "coordination.k8s.io", "leases", "", "kube-node-lease", ""), authz.Allow, ""},
		{"another node's lease", res("update", "coordination.k8s.io", "leases", "", "kube-node-lease", "n2"), authz.NoOpinion, "can only access node lease with the same name as the requesting node"},
		{"lease elsewhere", res("get", "coordination.k8s.io", "leases", "", "kube-system", "n1"), authz.NoOpinion, `can only access leases in the "kube-node-lease" system namespace`},
		{"lease list", res("list", "coordination.k8s.io", "leases", "", "kube-node-lease", ""), authz.NoOpinion, "can only get, create, update, patch, or delete a node lease"},
		{"events", res("create", "", "events", "", "ns", ""), authz.Allow, ""},
		{"csr", res("create", "certificates.k8s.io", "certificatesigningrequests", "", "", ""), authz.Allow, ""},
		{"services watch", res("watch", "", "services", "", "", ""), authz.Allow, ""},
		{"deployments", res("list", "apps", "deployments", "", "", ""), authz.NoOpinion, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, reason, err := z.Authorize(context.Background(), tc.attrs)
			if err != nil {
				t.Fatal(err)
			}
			if d != tc.want || reason != tc.reason {
				t.Errorf("got %v %q, want %v %q", d, reason, tc.want, tc.reason)
			}
		})
	}
}

func TestNonNodesHaveNoOpinion(t *testing.T) {
	z := node.Authorizer{Objects: objects{}, Rules: bootstrap.NodeRules()}
	for _, u := range []*authn.User{
		nil,
		{Name: "alice", Groups: []string{"system:nodes"}},
		{Name: "system:node:n1"}, // not in system:nodes
		{Name: "system:kube-scheduler", Groups: []string{authn.GroupAuthenticated}},
	} {
		a := res("get", "", "nodes", "", "", "n1")
		a.User = u
		if d, _, _ := z.Authorize(context.Background(), a); d != authz.NoOpinion {
			t.Errorf("user %+v: got %v, want NoOpinion", u, d)
		}
	}
	a := res("get", "", "nodes", "", "", "n1")
	a.User = &authn.User{Name: "system:node:", Groups: []string{"system:nodes"}}
	if d, reason, _ := z.Authorize(context.Background(), a); d != authz.NoOpinion || !strings.Contains(reason, "unknown node") {
		t.Errorf("empty node name: got %v %q", d, reason)
	}
}
