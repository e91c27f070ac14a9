package core

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/registry"
)

func TestResourcesDiscovery(t *testing.T) {
	want := map[string]struct {
		short      string
		namespaced bool
		status     bool
		generation bool
		all        bool
	}{
		"namespaces":             {"ns", false, true, false, false},
		"pods":                   {"po", true, true, true, true},
		"services":               {"svc", true, true, false, true},
		"endpoints":              {"ep", true, false, false, false},
		"nodes":                  {"no", false, true, false, false},
		"configmaps":             {"cm", true, false, false, false},
		"secrets":                {"", true, false, false, false},
		"serviceaccounts":        {"sa", true, false, false, false},
		"events":                 {"ev", true, false, false, false},
		"persistentvolumes":      {"pv", false, true, false, false},
		"persistentvolumeclaims": {"pvc", true, true, false, false},
		"limitranges":            {"limits", true, false, false, false},
		"resourcequotas":         {"quota", true, true, false, false},
		"podtemplates":           {"", true, false, false, false},
		"replicationcontrollers": {"rc", true, true, true, true},
	}
	res := Resources()
	if len(res) != len(want) {
		t.Fatalf("%d resources, want %d", len(res), len(want))
	}
	for _, r := range res {
		w, ok := want[r.Resource]
		if !ok {
			t.Errorf("unexpected resource %s", r.Resource)
			continue
		}
		short := strings.Join(r.ShortNames, ",")
		all := len(r.Categories) == 1 && r.Categories[0] == "all"
		if short != w.short || r.Namespaced != w.namespaced || r.HasStatus != w.status || r.HasGeneration != w.generation || all != w.all {
			t.Errorf("%s: short=%q namespaced=%v status=%v generation=%v all=%v", r.Resource, short, r.Namespaced, r.HasStatus, r.HasGeneration, all)
		}
		if r.GroupVersion.Group != "" || r.GroupVersion.Version != "v1" {
			t.Errorf("%s: group version %v", r.Resource, r.GroupVersion)
		}
		if r.SingularName != strings.ToLower(r.Kind) {
			t.Errorf("%s: singular %q for kind %q", r.Resource, r.SingularName, r.Kind)
		}
		obj := r.New()
		if got := reflect.TypeOf(obj).Elem().Name(); got != r.Kind {
			t.Errorf("%s: New returns %s", r.Resource, got)
		}
		if got := reflect.TypeOf(r.NewList()).Elem().Name(); got != r.Kind+"List" {
			t.Errorf("%s: NewList returns %s", r.Resource, got)
		}
		// Every strategy survives an empty object and the wrong type.
		r.Strategy.Default(obj)
		r.Strategy.PrepareForCreate(context.Background(), obj)
		_ = r.Strategy.Validate(context.Background(), obj)
		_ = r.Strategy.ValidateUpdate(context.Background(), obj, r.New())
		if errs := r.Strategy.Validate(context.Background(), &corev1.Binding{}); len(errs) == 0 && r.Resource != "serviceaccounts" {
			t.Errorf("%s: wrong type accepted", r.Resource)
		}
		if tc, ok := r.Strategy.(registry.TableConvertor); ok {
			if n, m := len(tc.ColumnDefinitions()), len(tc.Row(obj)); n != m {
				t.Errorf("%s: %d columns but %d cells", r.Resource, n, m)
			}
			if tc.Row(&corev1.Binding{}) != nil {
				t.Errorf("%s: row for wrong type", r.Resource)
			}
		}
	}
}

func TestNamespaceStrategy(t *testing.T) {
	s := namespaceStrategy{testClock}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
	s.Default(ns)
	s.PrepareForCreate(context.Background(), ns)
	if ns.Status.Phase != corev1.NamespaceActive || !reflect.DeepEqual(ns.Spec.Finalizers, []corev1.FinalizerName{"kubernetes"}) {
		t.Errorf("namespace after create: %+v", ns)
	}
	if ns.Labels[corev1.LabelMetadataName] != "team-a" {
		t.Errorf("labels = %v", ns.Labels)
	}
	expectErrs(t, s.ValidateMeta(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a.b"}}, nil),
		"FieldValueInvalid metadata.name")
	bad := ns.DeepCopy()
	bad.Spec.Finalizers = []corev1.FinalizerName{"custom"}
	expectErrs(t, s.Validate(context.Background(), bad), "FieldValueInvalid spec.finalizers")
	term := ns.DeepCopy()
	term.Status.Phase = corev1.NamespaceTerminating
	expectErrs(t, s.ValidateStatusUpdate(context.Background(), term, ns), "FieldValueInvalid status.Phase")
	if got := s.Row(ns); !reflect.DeepEqual(got, []interface{}{"team-a", "Active", "<unknown>"}) {
		t.Errorf("row = %q", got)
	}
	if f := s.SelectableFields(ns); f["status.phase"] != "Active" {
		t.Errorf("fields = %v", f)
	}
}

func TestSecretAndConfigMap(t *testing.T) {
	ctx := context.Background()
	ss := secretStrategy{testClock}
	sec := &corev1.Secret{Data: map[string][]byte{"bad key": nil}}
	ss.Default(sec)
	if sec.Type != corev1.SecretTypeOpaque {
		t.Errorf("type = %q", sec.Type)
	}
	expectErrs(t, ss.Validate(ctx, sec), "FieldValueInvalid data[bad key]")
	tls := &corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": []byte("x")}}
	expectErrs(t, ss.Validate(ctx, tls), "FieldValueRequired data[tls.key]")
	docker := &corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{".dockerconfigjson": []byte("{")}}
	expectErrs(t, ss.Validate(ctx, docker), "FieldValueInvalid data[.dockerconfigjson]")
	big := &corev1.Secret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"a": make([]byte, maxDataSize+1)}}
	expectErrs(t, ss.Validate(ctx, big), "FieldValueTooLong data")

	old := &corev1.Secret{Type: corev1.SecretTypeOpaque, Immutable: ptr(true), Data: map[string][]byte{"a": []byte("1")}}
	upd := old.DeepCopy()
	upd.Data["a"] = []byte("2")
	upd.Type = "custom"
	expectErrs(t, ss.ValidateUpdate(ctx, upd, old), "FieldValueForbidden data", "FieldValueInvalid type")

	cs := configMapStrategy{testClock}
	cm := &corev1.ConfigMap{Data: map[string]string{"k": "v"}, BinaryData: map[string][]byte{"k": nil}}
	expectErrs(t, cs.Validate(ctx, cm), "FieldValueInvalid data[k]")
	oldCM := &corev1.ConfigMap{Immutable: ptr(true), Data: map[string]string{"k": "v"}}
	updCM := oldCM.DeepCopy()
	updCM.Immutable = ptr(false)
	expectErrs(t, cs.ValidateUpdate(ctx, updCM, oldCM), "FieldValueForbidden immutable")
	empty := &corev1.ConfigMap{}
	cs.Default(empty)
	if empty.Data == nil {
		t.Error("configmap data not defaulted")
	}
	if got := ss.Row(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Type: "Opaque", Data: map[string][]byte{"a": nil, "b": nil}}); !reflect.DeepEqual(got, []interface{}{"s", "Opaque", int64(2), "<unknown>"}) {
		t.Errorf("secret row = %v", got)
	}
}

func TestNodeStrategy(t *testing.T) {
	ctx := context.Background()
	s := nodeStrategy{testClock}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", CreationTimestamp: metav1.NewTime(testNow.Add(-48 * time.Hour)),
			Labels: map[string]string{"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/worker": ""}},
		Spec: corev1.NodeSpec{PodCIDR: "10.244.0.0/24", Unschedulable: true},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.10"}},
			NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OSImage: "Debian", KernelVersion: "6.1", Architecture: "amd64", ContainerRuntimeVersion: "containerd://2.0"},
			Capacity:   corev1.ResourceList{corev1.ResourceCPU: q("4")},
		},
	}
	s.Default(node)
	if !reflect.DeepEqual(node.Spec.PodCIDRs, []string{"10.244.0.0/24"}) || node.Status.Allocatable.Cpu().String() != "4" {
		t.Errorf("node defaults: %+v", node)
	}
	expectErrs(t, s.Validate(ctx, node))
	want := []interface{}{"n1", "Ready,SchedulingDisabled", "control-plane,worker", "2d", "v1.37.2",
		"192.168.1.10", "<none>", "Debian", "6.1 (amd64)", "containerd://2.0"}
	if got := s.Row(node); !reflect.DeepEqual(got, want) {
		t.Errorf("row:\n got %q\nwant %q", got, want)
	}
	upd := node.DeepCopy()
	upd.Spec.PodCIDR, upd.Spec.PodCIDRs = "10.244.1.0/24", []string{"10.244.1.0/24"}
	upd.Spec.Taints = []corev1.Taint{{Key: "k", Effect: "NoSchedule"}, {Key: "k", Effect: "NoSchedule"}}
	expectErrs(t, s.ValidateUpdate(ctx, upd, node), "FieldValueForbidden spec.podCIDRs", "FieldValueDuplicate metadata.taints[1]")
	if f := s.SelectableFields(node); f["spec.unschedulable"] != "true" {
		t.Errorf("fields = %v", f)
	}
}

func TestEventStrategy(t *testing.T) {
	s := eventStrategy{testClock}
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "web.1", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", Namespace: "default"},
		Reason:         "Scheduled", Message: "Successfully assigned default/web to n1 ", Type: "Normal",
		Source:         corev1.EventSource{Component: "default-scheduler"},
		FirstTimestamp: metav1.NewTime(testNow.Add(-10 * time.Minute)), LastTimestamp: metav1.NewTime(testNow.Add(-time.Minute)), Count: 3,
	}
	expectErrs(t, s.Validate(context.Background(), ev))
	want := []interface{}{"60s", "Normal", "Scheduled", "pod/web", "", "default-scheduler", "Successfully assigned default/web to n1", "10m", int64(3), "web.1"}
	if got := s.Row(ev); !reflect.DeepEqual(got, want) {
		t.Errorf("row:\n got %q\nwant %q", got, want)
	}
	other := ev.DeepCopy()
	other.InvolvedObject.Namespace = "kube-system"
	expectErrs(t, s.Validate(context.Background(), other), "FieldValueInvalid involvedObject.namespace")
	modern := ev.DeepCopy()
	modern.EventTime = metav1.NewMicroTime(testNow)
	expectErrs(t, s.Validate(context.Background(), modern),
		"FieldValueRequired reportingComponent", "FieldValueInvalid reportingComponent", "FieldValueInvalid reportingComponent",
		"FieldValueRequired reportingInstance", "FieldValueRequired action")
	if f := s.SelectableFields(ev); f["involvedObject.name"] != "web" || f["source"] != "default-scheduler" {
		t.Errorf("fields = %v", f)
	}
}

func TestReplicationController(t *testing.T) {
	ctx := context.Background()
	s := replicationControllerStrategy{testClock}
	rc := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "rc"},
		Spec: corev1.ReplicationControllerSpec{Template: &corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
		}},
	}
	s.Default(rc)
	if *rc.Spec.Replicas != 1 || rc.Spec.Selector["app"] != "x" || rc.Labels["app"] != "x" {
		t.Errorf("rc defaults: %+v", rc)
	}
	expectErrs(t, s.Validate(ctx, rc))
	bad := rc.DeepCopy()
	bad.Spec.Selector = map[string]string{"app": "y"}
	bad.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
	expectErrs(t, s.Validate(ctx, bad), "FieldValueInvalid spec.template.metadata.labels", "FieldValueNotSupported spec.template.spec.restartPolicy")
	rc.Status = corev1.ReplicationControllerStatus{Replicas: 1, ReadyReplicas: 2}
	expectErrs(t, s.ValidateStatusUpdate(ctx, rc, rc), "FieldValueInvalid status.readyReplicas")
	spec, status, sel := replicationControllerScale.Get(rc)
	if spec != 1 || status != 1 || sel != "app=x" {
		t.Errorf("scale = %d %d %q", spec, status, sel)
	}
	replicationControllerScale.Set(rc, 5)
	if *rc.Spec.Replicas != 5 {
		t.Errorf("scale set failed")
	}
	want := []interface{}{"rc", int64(5), int64(1), int64(2), "<unknown>", "c", "nginx", "app=x"}
	if got := s.Row(rc); !reflect.DeepEqual(got, want) {
		t.Errorf("row = %v", got)
	}
}

func TestPersistentVolumes(t *testing.T) {
	ctx := context.Background()
	pvs := pvStrategy{testClock}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv1"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: q("10Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data"}},
			ClaimRef:               &corev1.ObjectReference{Namespace: "default", Name: "claim"},
		},
	}
	pvs.Default(pv)
	pvs.PrepareForCreate(ctx, pv)
	if pv.Status.Phase != corev1.VolumePending || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain || *pv.Spec.VolumeMode != corev1.PersistentVolumeFilesystem {
		t.Errorf("pv defaults: %+v", pv)
	}
	expectErrs(t, pvs.Validate(ctx, pv))
	want := []interface{}{"pv1", "10Gi", "RWO,ROX", "Retain", "Pending", "default/claim", "", "<unset>", "", "<unknown>", "Filesystem"}
	if got := pvs.Row(pv); !reflect.DeepEqual(got, want) {
		t.Errorf("pv row = %q", got)
	}
	upd := pv.DeepCopy()
	upd.Spec.HostPath.Path = "/other"
	expectErrs(t, pvs.ValidateUpdate(ctx, upd, pv), "FieldValueForbidden spec.persistentvolumesource")
	expectErrs(t, pvs.Validate(ctx, &corev1.PersistentVolume{}),
		"FieldValueRequired spec.accessModes", "FieldValueRequired spec.capacity", "FieldValueNotSupported spec.capacity", "FieldValueRequired spec")

	cs := pvcStrategy{testClock}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "claim"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: q("1Gi")}},
		},
	}
	cs.Default(pvc)
	cs.PrepareForCreate(ctx, pvc)
	if pvc.Status.Phase != corev1.ClaimPending || *pvc.Spec.VolumeMode != corev1.PersistentVolumeFilesystem {
		t.Errorf("pvc defaults: %+v", pvc)
	}
	expectErrs(t, cs.Validate(ctx, pvc))
	grow := pvc.DeepCopy()
	grow.Status.Phase = corev1.ClaimBound
	grow.Spec.Resources.Requests[corev1.ResourceStorage] = q("2Gi")
	expectErrs(t, cs.ValidateUpdate(ctx, grow, pvc))
	other := pvc.DeepCopy()
	other.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	expectErrs(t, cs.ValidateUpdate(ctx, other, pvc), "FieldValueForbidden spec")
	bound := pvc.DeepCopy()
	bound.Spec.VolumeName = "pv1"
	bound.Status.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	bound.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: q("10Gi")}
	bound.Status.Phase = corev1.ClaimBound
	want = []interface{}{"claim", "Bound", "pv1", "10Gi", "RWO", "", "<unset>", "<unknown>", "Filesystem"}
	if got := cs.Row(bound); !reflect.DeepEqual(got, want) {
		t.Errorf("pvc row = %q", got)
	}
	expectErrs(t, cs.Validate(ctx, &corev1.PersistentVolumeClaim{}),
		"FieldValueRequired spec.accessModes", "FieldValueRequired spec.resources[storage]")
}

func TestQuotaAndLimits(t *testing.T) {
	ctx := context.Background()
	lr := &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type: corev1.LimitTypeContainer,
		Max:  corev1.ResourceList{corev1.ResourceCPU: q("2")},
		Min:  corev1.ResourceList{corev1.ResourceCPU: q("100m")},
	}}}}
	ls := limitRangeStrategy{}
	ls.Default(lr)
	item := lr.Spec.Limits[0]
	if item.Default.Cpu().String() != "2" || item.DefaultRequest.Cpu().String() != "2" {
		t.Errorf("limit range defaults: %+v", item)
	}
	expectErrs(t, ls.Validate(ctx, lr))
	lr.Spec.Limits[0].Min[corev1.ResourceCPU] = q("3")
	expectErrs(t, ls.Validate(ctx, lr), "FieldValueInvalid spec.limits[0].min[cpu]",
		"FieldValueInvalid spec.limits[0].defaultRequest[cpu]", "FieldValueInvalid spec.limits[0].default[cpu]")

	rs := resourceQuotaStrategy{testClock}
	rq := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q"}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"pods": q("10"), "storage": q("1Gi")}}}
	expectErrs(t, rs.Validate(ctx, rq), "FieldValueInvalid spec.hard[storage]")
	rq.Status = corev1.ResourceQuotaStatus{
		Hard: corev1.ResourceList{"pods": q("10"), "requests.cpu": q("2"), "limits.cpu": q("4")},
		Used: corev1.ResourceList{"pods": q("3"), "requests.cpu": q("500m"), "limits.cpu": q("1")},
	}
	want := []interface{}{"q", "pods: 3/10, requests.cpu: 500m/2", "limits.cpu: 1/4", "<unknown>"}
	if got := rs.Row(rq); !reflect.DeepEqual(got, want) {
		t.Errorf("quota row = %q", got)
	}
}

func TestEndpointsAndTemplates(t *testing.T) {
	ctx := context.Background()
	es := endpointsStrategy{testClock}
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}, {IP: "10.0.0.3"}, {IP: "10.0.0.4"}},
		Ports:     []corev1.EndpointPort{{Port: 80}},
	}}}
	es.Default(ep)
	expectErrs(t, es.Validate(ctx, ep))
	if got := es.Row(ep)[1]; got != "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more..." {
		t.Errorf("endpoints cell = %q", got)
	}
	bad := ep.DeepCopy()
	bad.Subsets[0].Addresses[0].IP = "127.0.0.1"
	expectErrs(t, es.Validate(ctx, bad), "FieldValueInvalid subsets[0].addresses[0].ip")
	// Unchanged invalid subsets are tolerated on update.
	expectErrs(t, es.ValidateUpdate(ctx, bad, bad.DeepCopy()))

	ps := podTemplateStrategy{testClock}
	pt := &corev1.PodTemplate{Template: corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "a:1"}, {Name: "b", Image: "b:2"}}},
	}}
	pt.Name = "tmpl"
	ps.Default(pt)
	expectErrs(t, ps.Validate(ctx, pt))
	pt.Template.Spec.Containers[0].Name = ""
	expectErrs(t, ps.Validate(ctx, pt), "FieldValueRequired template.spec.containers[0].name")
	if got := ps.Row(pt); !reflect.DeepEqual(got, []interface{}{"tmpl", ",b", "a:1,b:2", "app=x"}) {
		t.Errorf("template row = %q", got)
	}
}

func TestNamespaceDeletion(t *testing.T) {
	s := namespaceStrategy{testClock}
	ns := &corev1.Namespace{Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	if !s.HoldsDeletion(ns) {
		t.Error("namespace with finalizers not held")
	}
	s.BeginDeletion(ns)
	if ns.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("phase = %s", ns.Status.Phase)
	}
	ns.Spec.Finalizers = nil
	if s.HoldsDeletion(ns) {
		t.Error("namespace without finalizers held")
	}
}
