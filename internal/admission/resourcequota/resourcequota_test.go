package resourcequota

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/internal/admission"
)

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func rq(name string, hard, used corev1.ResourceList) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", ResourceVersion: "1"},
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
		Status:     corev1.ResourceQuotaStatus{Hard: hard, Used: used},
	}
}

// memStore is a quota store with resourceVersion compare-and-swap, and
// optionally one conflict injected on the first write.
type memStore struct {
	mu       sync.Mutex
	quotas   map[string]*corev1.ResourceQuota
	conflict bool
}

func (m *memStore) List(string) []runtime.Object {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []runtime.Object
	for _, q := range m.quotas {
		out = append(out, q.DeepCopy())
	}
	return out
}

func (m *memStore) Get(_ context.Context, _, name string) (*corev1.ResourceQuota, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, ok := m.quotas[name]
	if !ok {
		return nil, apierrors.NewNotFound(corev1.Resource("resourcequotas"), name)
	}
	return q.DeepCopy(), nil
}

func (m *memStore) UpdateStatus(_ context.Context, q *corev1.ResourceQuota) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.quotas[q.Name]
	if m.conflict {
		// Someone else charged a pod meanwhile.
		m.conflict = false
		next := cur.DeepCopy()
		pods := next.Status.Used[corev1.ResourcePods]
		pods.Add(resource.MustParse("1"))
		next.Status.Used[corev1.ResourcePods] = pods
		next.ResourceVersion += "x"
		m.quotas[q.Name] = next
		cur = next
	}
	if cur.ResourceVersion != q.ResourceVersion {
		return apierrors.NewConflict(corev1.Resource("resourcequotas"), q.Name, nil)
	}
	next := q.DeepCopy()
	next.ResourceVersion += "+"
	m.quotas[q.Name] = next
	return nil
}

func pod(name string, req, lim corev1.ResourceList) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}},
	}}
}

func TestValidate(t *testing.T) {
	bestEffort := rq("be", rl("pods", "1"), rl("pods", "0"))
	bestEffort.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort}
	gold := "gold"
	for _, tc := range []struct {
		name     string
		quotas   []*corev1.ResourceQuota
		conflict bool
		res      string
		op       admission.Operation
		obj, old runtime.Object
		want     string
		wantUsed map[string]corev1.ResourceList
	}{
		{
			name: "pod within", quotas: []*corev1.ResourceQuota{rq("q", rl("pods", "2", "requests.cpu", "1"), rl("pods", "1", "requests.cpu", "500m"))},
			res: "pods", op: admission.Create, obj: pod("p", rl("cpu", "200m"), nil),
			wantUsed: map[string]corev1.ResourceList{"q": rl("pods", "2", "requests.cpu", "700m")},
		},
		{
			name: "pods exceeded", quotas: []*corev1.ResourceQuota{rq("q", rl("pods", "2"), rl("pods", "2"))},
			res: "pods", op: admission.Create, obj: pod("p", nil, nil),
			want: `pods "p" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`,
		},
		{
			name: "cpu exceeded", quotas: []*corev1.ResourceQuota{rq("compute", rl("requests.cpu", "1", "requests.memory", "1Gi"), rl("requests.cpu", "900m", "requests.memory", "0"))},
			res: "pods", op: admission.Create, obj: pod("p", rl("cpu", "200m", "memory", "1Gi"), nil),
			want: `pods "p" is forbidden: exceeded quota: compute, requested: requests.cpu=200m, used: requests.cpu=900m, limited: requests.cpu=1`,
		},
		{
			name: "limits missing", quotas: []*corev1.ResourceQuota{rq("compute", rl("limits.cpu", "2", "limits.memory", "2Gi"), rl("limits.cpu", "0", "limits.memory", "0"))},
			res: "pods", op: admission.Create, obj: pod("p", rl("cpu", "1"), nil),
			want: `pods "p" is forbidden: failed quota: compute: must specify limits.cpu for: app; limits.memory for: app`,
		},
		{
			name: "scope not matched", quotas: []*corev1.ResourceQuota{bestEffort},
			res: "pods", op: admission.Create, obj: pod("p", rl("cpu", "1"), nil),
		},
		{
			name: "scope matched", quotas: []*corev1.ResourceQuota{bestEffort},
			res: "pods", op: admission.Create, obj: pod("p", nil, nil),
			wantUsed: map[string]corev1.ResourceList{"be": rl("pods", "1")},
		},
		{
			name: "scoped quota ignores configmaps", quotas: []*corev1.ResourceQuota{bestEffort},
			res: "configmaps", op: admission.Create, obj: &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}},
		},
		{
			name: "configmaps exceeded", quotas: []*corev1.ResourceQuota{rq("objects", rl("configmaps", "1"), rl("configmaps", "1"))},
			res: "configmaps", op: admission.Create, obj: &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}},
			want: `configmaps "c" is forbidden: exceeded quota: objects, requested: configmaps=1, used: configmaps=1, limited: configmaps=1`,
		},
		{
			name: "count/ of a group", quotas: []*corev1.ResourceQuota{rq("objects", rl("count/deployments.apps", "3"), rl("count/deployments.apps", "1"))},
			res: "deployments", op: admission.Create, obj: &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}},
		},
		{
			name: "claim expanded past storage", quotas: []*corev1.ResourceQuota{rq("storage", rl("requests.storage", "10Gi"), rl("requests.storage", "8Gi"))},
			res: "persistentvolumeclaims", op: admission.Update,
			old:  &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", "8Gi")}}},
			obj:  &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", "12Gi")}}},
			want: `persistentvolumeclaims "data" is forbidden: exceeded quota: storage, requested: requests.storage=4Gi, used: requests.storage=8Gi, limited: requests.storage=10Gi`,
		},
		{
			name: "claim per storage class", quotas: []*corev1.ResourceQuota{rq("gold", rl("gold.storageclass.storage.k8s.io/persistentvolumeclaims", "1"), rl("gold.storageclass.storage.k8s.io/persistentvolumeclaims", "1"))},
			res: "persistentvolumeclaims", op: admission.Create,
			obj:  &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &gold}},
			want: `persistentvolumeclaims "data" is forbidden: exceeded quota: gold, requested: gold.storageclass.storage.k8s.io/persistentvolumeclaims=1, used: gold.storageclass.storage.k8s.io/persistentvolumeclaims=1, limited: gold.storageclass.storage.k8s.io/persistentvolumeclaims=1`,
		},
		{
			name: "node ports", quotas: []*corev1.ResourceQuota{rq("svc", rl("services.nodeports", "1"), rl("services.nodeports", "0"))},
			res: "services", op: admission.Create,
			obj:  &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}, {Port: 443}}}},
			want: `services "web" is forbidden: exceeded quota: svc, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1`,
		},
		{
			name: "not synced yet", quotas: []*corev1.ResourceQuota{{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "ns"}, Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "0")}}},
			res: "pods", op: admission.Create, obj: pod("p", nil, nil),
		},
		{
			name: "conflict retried with the fresh usage", conflict: true,
			quotas: []*corev1.ResourceQuota{rq("q", rl("pods", "3"), rl("pods", "1"))},
			res:    "pods", op: admission.Create, obj: pod("p", nil, nil),
			wantUsed: map[string]corev1.ResourceList{"q": rl("pods", "3")},
		},
		{
			name: "conflict then exceeded", conflict: true,
			quotas: []*corev1.ResourceQuota{rq("q", rl("pods", "2"), rl("pods", "1"))},
			res:    "pods", op: admission.Create, obj: pod("p", nil, nil),
			want: `pods "p" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &memStore{quotas: map[string]*corev1.ResourceQuota{}, conflict: tc.conflict}
			for _, q := range tc.quotas {
				st.quotas[q.Name] = q
			}
			name := tc.obj.(metav1.Object).GetName()
			gr := corev1.SchemeGroupVersion.WithResource(tc.res)
			if tc.res == "deployments" {
				gr.Group = "apps"
			}
			a := &admission.Attributes{Operation: tc.op, Resource: gr, Namespace: "ns", Name: name, Object: tc.obj, OldObject: tc.old}
			err := Plugin{Quotas: st, Store: st, Now: func() time.Time { return time.Unix(0, 0) }}.Validate(context.Background(), a)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
			for qn, want := range tc.wantUsed {
				used := st.quotas[qn].Status.Used
				for k, v := range want {
					if q := used[k]; q.Cmp(v) != 0 {
						t.Errorf("quota %s used %s = %s, want %s", qn, k, q.String(), v.String())
					}
				}
			}
		})
	}
}
