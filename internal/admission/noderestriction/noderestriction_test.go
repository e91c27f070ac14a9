package noderestriction_test

import (
	"context"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/admission/noderestriction"
	"skiff.dev/skiff/internal/auth/authn"
)

type objects struct {
	pods  map[string]*corev1.Pod
	nodes map[string]*corev1.Node
}

func (o objects) Pod(ns, name string) (*corev1.Pod, bool) { p, ok := o.pods[ns+"/"+name]; return p, ok }
func (o objects) Node(name string) (*corev1.Node, bool)   { n, ok := o.nodes[name]; return n, ok }

var (
	mynode = &authn.User{Name: "system:node:mynode", Groups: []string{"system:nodes", authn.GroupAuthenticated}}
	bob    = &authn.User{Name: "bob", Groups: []string{authn.GroupAuthenticated}}
)

func pod(name, nodeName string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types(name)}, Spec: corev1.PodSpec{NodeName: nodeName}}
}

func types(s string) k8stypes.UID { return k8stypes.UID(s + "-uid") }

func mirror(nodeName string, mutate func(*corev1.Pod)) *corev1.Pod {
	p := pod("static", nodeName)
	p.Annotations = map[string]string{"kubernetes.io/config.mirror": "hash"}
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: "mynode", UID: "mynode-uid", Controller: ptr.To(true)}}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func nodeObj(name string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Taints: taints}}
}

func attrs(user *authn.User, op admission.Operation, gr schema.GroupResource, sub, ns, name string, obj, old runtime.Object) *admission.Attributes {
	return &admission.Attributes{Operation: op, User: user, Resource: gr.WithVersion("v1"), Subresource: sub,
		Namespace: ns, Name: name, Object: obj, OldObject: old}
}

func TestValidate(t *testing.T) {
	pods := corev1.Resource("pods")
	nodes := corev1.Resource("nodes")
	leases := schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}
	sas := corev1.Resource("serviceaccounts")
	pvcs := corev1.Resource("persistentvolumeclaims")
	objs := objects{
		pods:  map[string]*corev1.Pod{"ns/mine": pod("mine", "mynode"), "ns/theirs": pod("theirs", "other")},
		nodes: map[string]*corev1.Node{"mynode": {ObjectMeta: metav1.ObjectMeta{Name: "mynode", UID: "mynode-uid"}}},
	}
	token := func(kind, name, uid string) *authenticationv1.TokenRequest {
		tr := &authenticationv1.TokenRequest{}
		if kind != "" {
			tr.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: kind, Name: name, UID: k8stypes.UID(uid)}
		}
		return tr
	}
	claim := func(mutate func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
		c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c", ResourceVersion: "1"}}
		if mutate != nil {
			mutate(c)
		}
		return c
	}
	for _, tc := range []struct {
		name string
		a    *admission.Attributes
		want string // "" = admitted
	}{
		{"other users pass", attrs(bob, admission.Create, pods, "", "ns", "x", pod("x", "other"), nil), ""},
		{"unnamed node", attrs(&authn.User{Name: "system:node:", Groups: []string{"system:nodes"}}, admission.Create, pods, "", "ns", "x", pod("x", ""), nil),
			`pods "x" is forbidden: could not determine node from user "system:node:"`},

		{"create a regular pod", attrs(mynode, admission.Create, pods, "", "ns", "x", pod("x", "mynode"), nil),
			`pods "x" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "mynode" can only create mirror pods`},
		{"create own mirror pod", attrs(mynode, admission.Create, pods, "", "ns", "static", mirror("mynode", nil), nil), ""},
		{"create mirror pod for another node", attrs(mynode, admission.Create, pods, "", "ns", "static", mirror("other", nil), nil),
			`pods "static" is forbidden: node "mynode" can only create pods with spec.nodeName set to itself`},
		{"mirror pod without owner", attrs(mynode, admission.Create, pods, "", "ns", "static", mirror("mynode", func(p *corev1.Pod) { p.OwnerReferences = nil }), nil),
			`pods "static" is forbidden: node "mynode" can only create pods with an owner reference set to itself`},
		{"mirror pod with wrong node uid", attrs(mynode, admission.Create, pods, "", "ns", "static", mirror("mynode", func(p *corev1.Pod) { p.OwnerReferences[0].UID = "x" }), nil),
			`pods "static" is forbidden: node mynode UID mismatch: expected x got mynode-uid`},
		{"mirror pod with a secret", attrs(mynode, admission.Create, pods, "", "ns", "static", mirror("mynode", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}}}
		}), nil), `pods "static" is forbidden: node "mynode" can not create pods that reference secrets`},
		{"mirror pod with a service account", attrs(mynode, admission.Create, pods, "", "ns", "static", mirror("mynode", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "default" }), nil),
			`pods "static" is forbidden: node "mynode" can not create pods that reference a service account`},

		{"delete own pod", attrs(mynode, admission.Delete, pods, "", "ns", "mine", nil, pod("mine", "mynode")), ""},
		{"delete another node's pod", attrs(mynode, admission.Delete, pods, "", "ns", "theirs", nil, pod("theirs", "other")),
			`pods "theirs" is forbidden: node "mynode" can only delete pods with spec.nodeName set to itself`},
		{"update a pod", attrs(mynode, admission.Update, pods, "", "ns", "mine", pod("mine", "mynode"), pod("mine", "mynode")),
			`pods "mine" is forbidden: unexpected operation "UPDATE", node "mynode" can only create and delete mirror pods`},

		{"own pod status", attrs(mynode, admission.Update, pods, "status", "ns", "mine", pod("mine", "mynode"), pod("mine", "mynode")), ""},
		{"another node's pod status", attrs(mynode, admission.Update, pods, "status", "ns", "theirs", pod("theirs", "other"), pod("theirs", "other")),
			`pods "theirs" is forbidden: node "mynode" can only update pod status for pods with spec.nodeName set to itself`},
		{"labels through pod status", attrs(mynode, admission.Update, pods, "status", "ns", "mine",
			func() *corev1.Pod { p := pod("mine", "mynode"); p.Labels = map[string]string{"a": "b"}; return p }(), pod("mine", "mynode")),
			`pods "mine" is forbidden: node "mynode" cannot update labels through pod status`},
		{"pod exec", attrs(mynode, admission.Connect, pods, "exec", "ns", "mine", nil, nil),
			`pods "mine" is forbidden: unexpected pod subresource "exec", only 'status' and 'eviction' are allowed`},

		{"evict own pod", attrs(mynode, admission.Create, pods, "eviction", "ns", "mine", &policyv1.Eviction{}, nil), ""},
		{"evict another node's pod", attrs(mynode, admission.Create, pods, "eviction", "ns", "theirs", &policyv1.Eviction{}, nil),
			`pods "theirs" is forbidden: node mynode can only evict pods with spec.nodeName set to itself`},

		{"create own node", attrs(mynode, admission.Create, nodes, "", "", "mynode",
			nodeObj("mynode", map[string]string{"kubernetes.io/hostname": "mynode", "kubernetes.io/os": "linux", "node.kubernetes.io/exclude-from-external-load-balancers": "", "example.com/rack": "7"}), nil), ""},
		{"create another node", attrs(mynode, admission.Create, nodes, "", "", "other", nodeObj("other", nil), nil),
			`nodes "other" is forbidden: node "mynode" is not allowed to modify node "other"`},
		{"update another node's status", attrs(mynode, admission.Update, nodes, "status", "", "other", nodeObj("other", nil), nodeObj("other", nil)),
			`nodes "other" is forbidden: node "mynode" is not allowed to modify node "other"`},
		{"create with restricted labels", attrs(mynode, admission.Create, nodes, "", "", "mynode",
			nodeObj("mynode", map[string]string{"node-restriction.kubernetes.io/a": "1", "node-role.kubernetes.io/control-plane": ""}), nil),
			`nodes "mynode" is forbidden: node "mynode" is not allowed to set the following labels: node-restriction.kubernetes.io/a, node-role.kubernetes.io/control-plane`},
		{"update taints", attrs(mynode, admission.Update, nodes, "", "", "mynode", nodeObj("mynode", nil), nodeObj("mynode", nil, corev1.Taint{Key: "k", Effect: corev1.TaintEffectNoSchedule})),
			`nodes "mynode" is forbidden: node "mynode" is not allowed to modify taints`},
		{"update restricted label", attrs(mynode, admission.Update, nodes, "", "", "mynode",
			nodeObj("mynode", map[string]string{"foo.node-restriction.kubernetes.io/a": "1"}), nodeObj("mynode", nil)),
			`nodes "mynode" is forbidden: is not allowed to modify labels: foo.node-restriction.kubernetes.io/a`},
		{"update allowed labels", attrs(mynode, admission.Update, nodes, "", "", "mynode",
			nodeObj("mynode", map[string]string{"topology.kubernetes.io/zone": "a", "x": "y"}), nodeObj("mynode", nil)), ""},

		{"own lease", attrs(mynode, admission.Create, leases, "", "kube-node-lease", "mynode", &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "mynode"}}, nil), ""},
		{"another node's lease", attrs(mynode, admission.Create, leases, "", "kube-node-lease", "other", &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "other"}}, nil),
			`leases.coordination.k8s.io "other" is forbidden: can only access node lease with the same name as the requesting node`},
		{"lease elsewhere", attrs(mynode, admission.Update, leases, "", "kube-system", "mynode", nil, nil),
			`leases.coordination.k8s.io "mynode" is forbidden: can only access leases in the "kube-node-lease" system namespace`},

		{"token bound to own pod", attrs(mynode, admission.Create, sas, "token", "ns", "default", token("Pod", "mine", "mine-uid"), nil), ""},
		{"token not bound", attrs(mynode, admission.Create, sas, "token", "ns", "default", token("", "", ""), nil),
			`serviceaccounts "default" is forbidden: node requested token not bound to a pod`},
		{"token bound to a secret", attrs(mynode, admission.Create, sas, "token", "ns", "default", token("Secret", "s", "u"), nil),
			`serviceaccounts "default" is forbidden: node requested token not bound to a pod`},
		{"token without uid", attrs(mynode, admission.Create, sas, "token", "ns", "default", token("Pod", "mine", ""), nil),
			`serviceaccounts "default" is forbidden: node requested token with a pod binding without a uid`},
		{"token with stale uid", attrs(mynode, admission.Create, sas, "token", "ns", "default", token("Pod", "mine", "old"), nil),
			`serviceaccounts "default" is forbidden: the UID in the bound object reference (old) does not match the UID in record. The object might have been deleted and then recreated`},
		{"token bound to another node's pod", attrs(mynode, admission.Create, sas, "token", "ns", "default", token("Pod", "theirs", "theirs-uid"), nil),
			`serviceaccounts "default" is forbidden: node requested token bound to a pod scheduled on a different node`},
		{"token for a missing pod", attrs(mynode, admission.Create, sas, "token", "ns", "default", token("Pod", "gone", "u"), nil),
			`pods "gone" not found`},

		{"claim status", attrs(mynode, admission.Update, pvcs, "status", "ns", "c",
			claim(func(c *corev1.PersistentVolumeClaim) {
				c.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
				c.ResourceVersion = ""
			}), claim(nil)), ""},
		{"claim status changing labels", attrs(mynode, admission.Update, pvcs, "status", "ns", "c",
			claim(func(c *corev1.PersistentVolumeClaim) { c.Labels = map[string]string{"a": "b"} }), claim(nil)),
			`persistentvolumeclaims "c" is forbidden: node "mynode" is not allowed to update fields other than status.capacity and status.conditions`},
		{"claim update", attrs(mynode, admission.Update, pvcs, "", "ns", "c", claim(nil), claim(nil)),
			`persistentvolumeclaims "c" is forbidden: may only update PVC status`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := noderestriction.Plugin{Objects: objs}.Validate(context.Background(), tc.a)
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
