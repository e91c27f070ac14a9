package apps

import (
	"context"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func newReplicaSet() *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: objectMeta("web-5d4f"),
		Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: appLabels},
			Template: podTemplate(appLabels),
		},
	}
	replicaSetStrategy{}.Default(rs)
	return rs
}

func TestReplicaSet(t *testing.T) {
	ctx := context.Background()
	s := replicaSetStrategy{now: clock}
	if rs := (&appsv1.ReplicaSet{}); true {
		s.Default(rs)
		if rs.Spec.Replicas == nil || *rs.Spec.Replicas != 1 {
			t.Fatalf("replicas default = %v", rs.Spec.Replicas)
		}
	}
	cases := []struct {
		name   string
		mutate func(*appsv1.ReplicaSet)
		want   []want
	}{
		{"valid", func(*appsv1.ReplicaSet) {}, nil},
		{"empty selector named as upstream does", func(rs *appsv1.ReplicaSet) { rs.Spec.Selector = &metav1.LabelSelector{} }, []want{
			{field.ErrorTypeInvalid, "spec.selector", "empty selector is invalid for deployment"},
		}},
		{"mismatch", func(rs *appsv1.ReplicaSet) { rs.Spec.Template.Labels = nil }, []want{
			{field.ErrorTypeInvalid, "spec.template.metadata.labels", ""},
		}},
		{"negative minReadySeconds", func(rs *appsv1.ReplicaSet) { rs.Spec.MinReadySeconds = -1 }, []want{
			{field.ErrorTypeInvalid, "spec.minReadySeconds", ""},
		}},
		{"OnFailure", func(rs *appsv1.ReplicaSet) { rs.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure }, []want{
			{field.ErrorTypeNotSupported, "spec.template.spec.restartPolicy", ""},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := newReplicaSet()
			tc.mutate(rs)
			checkErrors(t, s.Validate(ctx, rs), tc.want)
		})
	}
	t.Run("selector immutable", func(t *testing.T) {
		old := newReplicaSet()
		rs := old.DeepCopy()
		rs.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpExists}}
		checkErrors(t, s.ValidateUpdate(ctx, rs, old), []want{{field.ErrorTypeInvalid, "spec.selector", "field is immutable"}})
	})
	t.Run("status", func(t *testing.T) {
		old := newReplicaSet()
		rs := old.DeepCopy()
		rs.Status = appsv1.ReplicaSetStatus{Replicas: 1, FullyLabeledReplicas: 2, ReadyReplicas: 1, AvailableReplicas: 1}
		checkErrors(t, s.ValidateStatusUpdate(ctx, rs, old), []want{
			{field.ErrorTypeInvalid, "status.fullyLabeledReplicas", "cannot be greater than status.replicas"},
		})
	})
	t.Run("table, fields, scale", func(t *testing.T) {
		rs := newReplicaSet()
		rs.Status = appsv1.ReplicaSetStatus{Replicas: 1, ReadyReplicas: 1}
		want := []interface{}{"web-5d4f", int64(1), int64(1), int64(1), "60m", "web,log", "nginx:1.27,busybox", "app=web"}
		if row := s.Row(rs); !reflect.DeepEqual(row, want) {
			t.Fatalf("row = %#v", row)
		}
		if got := s.SelectableFields(rs); !reflect.DeepEqual(got, fields.Set{"status.replicas": "1"}) {
			t.Fatalf("fields = %v", got)
		}
		if _, _, sel := replicaSetScale.Get(rs); sel != "app=web" {
			t.Fatalf("selector = %q", sel)
		}
	})
}

func newStatefulSet() *appsv1.StatefulSet {
	ss := &appsv1.StatefulSet{
		ObjectMeta: objectMeta("db"),
		Spec: appsv1.StatefulSetSpec{
			ServiceName: "db",
			Selector:    &metav1.LabelSelector{MatchLabels: appLabels},
			Template:    podTemplate(appLabels),
		},
	}
	statefulSetStrategy{}.Default(ss)
	return ss
}

func TestStatefulSetDefault(t *testing.T) {
	ss := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{}}}}
	statefulSetStrategy{}.Default(ss)
	fs := corev1.PersistentVolumeFilesystem
	want := appsv1.StatefulSetSpec{
		Replicas:            ptrTo[int32](1),
		PodManagementPolicy: appsv1.OrderedReadyPodManagement,
		UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
			Type:          appsv1.RollingUpdateStatefulSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptrTo[int32](0), MaxUnavailable: ptrTo(intstr.FromInt32(1))},
		},
		RevisionHistoryLimit: ptrTo[int32](10),
		PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		},
		VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
			Spec:   corev1.PersistentVolumeClaimSpec{VolumeMode: &fs},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
		}},
		Template: ss.Spec.Template,
	}
	if !reflect.DeepEqual(ss.Spec, want) {
		t.Fatalf("defaults:\n got  %+v\n want %+v", ss.Spec, want)
	}
	t.Run("OnDelete keeps rollingUpdate nil", func(t *testing.T) {
		ss := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}}}
		statefulSetStrategy{}.Default(ss)
		if ss.Spec.UpdateStrategy.RollingUpdate != nil {
			t.Fatal("rollingUpdate defaulted for OnDelete")
		}
	})
}

func TestStatefulSetValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*appsv1.StatefulSet)
		want   []want
	}{
		{"valid", func(*appsv1.StatefulSet) {}, nil},
		{"headless service name must be a DNS label", func(ss *appsv1.StatefulSet) { ss.Spec.ServiceName = "Db.svc" }, []want{
			{field.ErrorTypeInvalid, "spec.serviceName", ""},
		}},
		{"empty selector", func(ss *appsv1.StatefulSet) { ss.Spec.Selector = &metav1.LabelSelector{} }, []want{
			{field.ErrorTypeInvalid, "spec.selector", "empty selector is invalid for statefulset"},
		}},
		{"bad pod management policy", func(ss *appsv1.StatefulSet) { ss.Spec.PodManagementPolicy = "Random" }, []want{
			{field.ErrorTypeInvalid, "spec.podManagementPolicy", "must be 'OrderedReady' or 'Parallel'"},
		}},
		{"recreate is alpha", func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.RecreateStatefulSetStrategyType}
		}, []want{{field.ErrorTypeInvalid, "spec.updateStrategy", "must be 'RollingUpdate' or 'OnDelete'"}}},
		{"OnDelete with rollingUpdate", func(ss *appsv1.StatefulSet) { ss.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType }, []want{
			{field.ErrorTypeInvalid, "spec.updateStrategy.rollingUpdate", "only allowed for updateStrategy 'RollingUpdate'"},
		}},
		{"maxUnavailable zero", func(ss *appsv1.StatefulSet) {
			ss.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptrTo(intstr.FromString("0%"))
		}, []want{{field.ErrorTypeInvalid, "spec.updateStrategy.rollingUpdate.maxUnavailable", "cannot be 0"}}},
		{"negative partition", func(ss *appsv1.StatefulSet) { ss.Spec.UpdateStrategy.RollingUpdate.Partition = ptrTo[int32](-1) }, []want{
			{field.ErrorTypeInvalid, "spec.updateStrategy.rollingUpdate.partition", ""},
		}},
		{"retention policy", func(ss *appsv1.StatefulSet) { ss.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = "Keep" }, []want{
			{field.ErrorTypeNotSupported, "spec.persistentVolumeClaimRetentionPolicy.whenScaled", ""},
		}},
		{"negative ordinal start", func(ss *appsv1.StatefulSet) { ss.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: -1} }, []want{
			{field.ErrorTypeInvalid, "spec.ordinals.start", ""},
		}},
		{"activeDeadlineSeconds", func(ss *appsv1.StatefulSet) { ss.Spec.Template.Spec.ActiveDeadlineSeconds = ptrTo[int64](1) }, []want{
			{field.ErrorTypeForbidden, "spec.template.spec.activeDeadlineSeconds", "activeDeadlineSeconds in StatefulSet is not Supported"},
		}},
		{"claim template", func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{claimTemplate("data")}
		}, nil},
		{"claim template without storage request or access mode", func(ss *appsv1.StatefulSet) {
			ss.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{claimTemplate("data"), {ObjectMeta: metav1.ObjectMeta{Name: "logs"}}}
		}, []want{
			{field.ErrorTypeRequired, "spec.volumeClaimTemplates[1].spec.accessModes", "at least 1 access mode is required"},
			{field.ErrorTypeRequired, "spec.volumeClaimTemplates[1].spec.resources[storage]", ""},
		}},
		{"claim template with a bad access mode", func(ss *appsv1.StatefulSet) {
			c := claimTemplate("data")
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{"ReadWriteSometimes"}
			ss.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{c}
		}, []want{{field.ErrorTypeNotSupported, "spec.volumeClaimTemplates[0].spec.accessModes", ""}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ss := newStatefulSet()
			tc.mutate(ss)
			checkErrors(t, statefulSetStrategy{}.Validate(context.Background(), ss), tc.want)
		})
	}
}

func TestStatefulSetTemplateGetsClaimVolumes(t *testing.T) {
	ss := newStatefulSet()
	ss.Spec.Template.Spec.Hostname = "ignored"
	ss.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "data"}, {Name: "tmp"}}
	ss.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}
	tmpl := statefulSetTemplateToValidate(&ss.Spec)
	if tmpl.Spec.Hostname != "" || len(tmpl.Spec.Volumes) != 2 || tmpl.Spec.Volumes[0].PersistentVolumeClaim == nil || tmpl.Spec.Volumes[1].Name != "tmp" {
		t.Fatalf("template = %+v", tmpl.Spec)
	}
	if ss.Spec.Template.Spec.Hostname != "ignored" {
		t.Fatal("the stored template was modified")
	}
}

// claimTemplate is a valid claim template: one access mode, a storage
// request.
func claimTemplate(name string) corev1.PersistentVolumeClaim {
	return corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
}

func TestStatefulSetMountsClaimTemplates(t *testing.T) {
	ss := newStatefulSet()
	ss.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{claimTemplate("data")}
	ss.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/db"}}
	checkErrors(t, statefulSetStrategy{}.Validate(context.Background(), ss), nil)
	ss.Spec.VolumeClaimTemplates = nil
	if errs := (statefulSetStrategy{}).Validate(context.Background(), ss); len(errs) == 0 {
		t.Fatal("a mount of an undefined volume was accepted")
	}
}

func TestStatefulSetUpdate(t *testing.T) {
	ctx := context.Background()
	old := newStatefulSet()
	cases := []struct {
		name   string
		mutate func(*appsv1.StatefulSet)
		want   []want
	}{
		{"scale, image, strategy and retention may change", func(ss *appsv1.StatefulSet) {
			ss.Spec.Replicas = ptrTo[int32](5)
			ss.Spec.Template.Spec.Containers[0].Image = "postgres:17"
			ss.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
			ss.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
			ss.Spec.MinReadySeconds = 5
		}, nil},
		{"identity fields are immutable", func(ss *appsv1.StatefulSet) {
			ss.Spec.ServiceName = "db2"
			ss.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
			ss.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}
		}, []want{
			{field.ErrorTypeInvalid, "spec.serviceName", "field is immutable"},
			{field.ErrorTypeInvalid, "spec.podManagementPolicy", "field is immutable"},
			{field.ErrorTypeInvalid, "spec.volumeClaimTemplates", "field is immutable"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ss := old.DeepCopy()
			tc.mutate(ss)
			checkErrors(t, statefulSetStrategy{}.ValidateUpdate(ctx, ss, old), tc.want)
		})
	}
	t.Run("status", func(t *testing.T) {
		ss := old.DeepCopy()
		ss.Status = appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 1, AvailableReplicas: 2, CurrentReplicas: 3}
		checkErrors(t, statefulSetStrategy{}.ValidateStatusUpdate(ctx, ss, old), []want{
			{field.ErrorTypeInvalid, "status.currentReplicas", "cannot be greater than status.replicas"},
			{field.ErrorTypeInvalid, "status.availableReplicas", "cannot be greater than status.readyReplicas"},
		})
	})
}

func TestStatefulSetMeta(t *testing.T) {
	ctx := context.Background()
	ss := newStatefulSet()
	ss.Name = "db.primary"
	ss.ResourceVersion = "7"
	checkErrors(t, statefulSetStrategy{}.ValidateMeta(ctx, ss, nil), []want{{field.ErrorTypeInvalid, "metadata.name", ""}})
	// A stored subdomain name must stay updatable.
	checkErrors(t, statefulSetStrategy{}.ValidateMeta(ctx, ss, ss.DeepCopy()), nil)
	ss.Namespace = ""
	ss.Name = "db"
	checkErrors(t, statefulSetStrategy{}.ValidateMeta(ctx, ss, nil), []want{{field.ErrorTypeRequired, "metadata.namespace", ""}})
}

func TestStatefulSetTable(t *testing.T) {
	ss := newStatefulSet()
	ss.Spec.Replicas = ptrTo[int32](3)
	ss.Status.ReadyReplicas = 1
	want := []interface{}{"db", "1/3", "60m", "web,log", "nginx:1.27,busybox"}
	if row := (statefulSetStrategy{now: clock}).Row(ss); !reflect.DeepEqual(row, want) {
		t.Fatalf("row = %#v", row)
	}
}

func newDaemonSet() *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		ObjectMeta: objectMeta("agent"),
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: appLabels},
			Template: podTemplate(appLabels),
		},
	}
	daemonSetStrategy{}.Default(ds)
	return ds
}

func TestDaemonSet(t *testing.T) {
	ctx := context.Background()
	s := daemonSetStrategy{now: clock}
	ds := newDaemonSet()
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || *ru.MaxUnavailable != intstr.FromInt32(1) || *ru.MaxSurge != intstr.FromInt32(0) || *ds.Spec.RevisionHistoryLimit != 10 {
		t.Fatalf("defaults = %+v", ds.Spec)
	}
	cases := []struct {
		name   string
		mutate func(*appsv1.DaemonSet)
		want   []want
	}{
		{"valid", func(*appsv1.DaemonSet) {}, nil},
		{"no selector", func(ds *appsv1.DaemonSet) { ds.Spec.Selector = nil }, []want{
			{field.ErrorTypeInvalid, "spec.template.metadata.labels", "`selector` does not match template `labels`"},
		}},
		{"empty selector", func(ds *appsv1.DaemonSet) { ds.Spec.Selector = &metav1.LabelSelector{} }, []want{
			{field.ErrorTypeInvalid, "spec.selector", "empty selector is invalid for daemonset"},
		}},
		{"surge and unavailable both set", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptrTo(intstr.FromString("10%"))
		}, []want{
			{field.ErrorTypeInvalid, "spec.updateStrategy.rollingUpdate.maxSurge", "may not be set when maxUnavailable is non-zero"},
		}},
		{"both zero", func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptrTo(intstr.FromInt32(0))
		}, []want{
			{field.ErrorTypeRequired, "spec.updateStrategy.rollingUpdate.maxUnavailable", "cannot be 0 when maxSurge is 0"},
		}},
		{"unknown strategy", func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy.Type = "Sometimes" }, []want{
			{field.ErrorTypeNotSupported, "spec.updateStrategy", ""},
		}},
		{"restart policy", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }, []want{
			{field.ErrorTypeNotSupported, "spec.template.spec.restartPolicy", ""},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ds := newDaemonSet()
			tc.mutate(ds)
			checkErrors(t, s.Validate(ctx, ds), tc.want)
		})
	}

	t.Run("template generation annotation", func(t *testing.T) {
		ds := newDaemonSet()
		s.PrepareForCreate(ctx, ds)
		if got := ds.Annotations[appsv1.DeprecatedTemplateGeneration]; got != "1" {
			t.Fatalf("create: generation annotation = %q", got)
		}
		next := ds.DeepCopy()
		next.Annotations[appsv1.DeprecatedTemplateGeneration] = "9" // clients cannot set it
		next.Spec.MinReadySeconds = 3
		s.PrepareForUpdate(ctx, next, ds)
		if got := next.Annotations[appsv1.DeprecatedTemplateGeneration]; got != "1" {
			t.Fatalf("non-template update: annotation = %q, want 1", got)
		}
		next.Spec.Template.Spec.Containers[0].Image = "agent:2"
		s.PrepareForUpdate(ctx, next, ds)
		if got := next.Annotations[appsv1.DeprecatedTemplateGeneration]; got != "2" {
			t.Fatalf("template update: annotation = %q, want 2", got)
		}
	})
	t.Run("selector immutable", func(t *testing.T) {
		old := newDaemonSet()
		ds := old.DeepCopy()
		ds.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "x": "y"}}
		ds.Spec.Template.Labels = map[string]string{"app": "web", "x": "y"}
		checkErrors(t, s.ValidateUpdate(ctx, ds, old), []want{{field.ErrorTypeInvalid, "spec.selector", "field is immutable"}})
	})
	t.Run("status", func(t *testing.T) {
		old := newDaemonSet()
		ds := old.DeepCopy()
		ds.Status.NumberMisscheduled = -1
		checkErrors(t, s.ValidateStatusUpdate(ctx, ds, old), []want{{field.ErrorTypeInvalid, "status.numberMisscheduled", ""}})
	})
	t.Run("table", func(t *testing.T) {
		ds := newDaemonSet()
		ds.Spec.Template.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
		ds.Status = appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 3, NumberAvailable: 2}
		want := []interface{}{"agent", int64(3), int64(3), int64(2), int64(3), int64(2), "kubernetes.io/os=linux", "60m", "web,log", "nginx:1.27,busybox", "app=web"}
		if row := s.Row(ds); !reflect.DeepEqual(row, want) {
			t.Fatalf("row = %#v", row)
		}
		if len(s.ColumnDefinitions()) != len(want) {
			t.Fatal("column count")
		}
	})
}

func TestControllerRevision(t *testing.T) {
	ctx := context.Background()
	s := controllerRevisionStrategy{now: clock}
	cases := []struct {
		name string
		data runtime.RawExtension
		rev  int64
		want []want
	}{
		{"valid", runtime.RawExtension{Raw: []byte(`{"spec":{}}`)}, 1, nil},
		{"missing data", runtime.RawExtension{}, 1, []want{{field.ErrorTypeRequired, "data", "data is mandatory"}}},
		{"null data", runtime.RawExtension{Raw: []byte(`null`)}, 1, []want{{field.ErrorTypeRequired, "data", "data is mandatory"}}},
		{"not an object", runtime.RawExtension{Raw: []byte(`[1]`)}, 1, []want{{field.ErrorTypeRequired, "data", "data must be a valid JSON object"}}},
		{"bad JSON", runtime.RawExtension{Raw: []byte(`{`)}, 1, []want{{field.ErrorTypeInvalid, "data", "error parsing data"}}},
		{"negative revision", runtime.RawExtension{Raw: []byte(`{}`)}, -1, []want{{field.ErrorTypeInvalid, "revision", ""}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cr := &appsv1.ControllerRevision{ObjectMeta: objectMeta("r"), Data: tc.data, Revision: tc.rev}
			checkErrors(t, s.Validate(ctx, cr), tc.want)
		})
	}
	old := &appsv1.ControllerRevision{ObjectMeta: objectMeta("db-7c9"), Data: runtime.RawExtension{Raw: []byte(`{"a":1}`)}, Revision: 2}
	cr := old.DeepCopy()
	cr.Data.Raw = []byte(`{"a":2}`)
	checkErrors(t, s.ValidateUpdate(ctx, cr, old), []want{{field.ErrorTypeInvalid, "data", "field is immutable"}})

	old.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", UID: "u", Controller: ptrTo(true)}}
	want := []interface{}{"db-7c9", "statefulset.apps/db", int64(2), "60m"}
	if row := s.Row(old); !reflect.DeepEqual(row, want) {
		t.Fatalf("row = %#v", row)
	}
}

// TestTemplateWarnings: each workload reports its template's pod warnings
// under its own path, on create and again when its spec changes.
func TestTemplateWarnings(t *testing.T) {
	ctx := context.Background()
	const want = `spec.template.spec.nodeSelector[beta.kubernetes.io/arch]: deprecated since v1.14; use "kubernetes.io/arch" instead`
	deprecated := map[string]string{"beta.kubernetes.io/arch": "amd64"}

	d := newDeployment()
	d.Spec.Template.Spec.NodeSelector = deprecated
	rs := newReplicaSet()
	rs.Spec.Template.Spec.NodeSelector = deprecated
	ss := newStatefulSet()
	ss.Spec.Template.Spec.NodeSelector = deprecated
	ds := newDaemonSet()
	ds.Spec.Template.Spec.NodeSelector = deprecated
	cases := []struct {
		name     string
		strategy interface {
			Warnings(context.Context, runtime.Object, runtime.Object) []string
		}
		obj    runtime.Object
		change func(runtime.Object) // a spec change that warns again
	}{
		{"deployment", deploymentStrategy{}, d, func(o runtime.Object) { o.(*appsv1.Deployment).Spec.Replicas = ptrTo[int32](7) }},
		{"replicaset", replicaSetStrategy{}, rs, func(o runtime.Object) { o.(*appsv1.ReplicaSet).Spec.MinReadySeconds = 3 }},
		{"statefulset", statefulSetStrategy{}, ss, func(o runtime.Object) { o.(*appsv1.StatefulSet).Spec.Replicas = ptrTo[int32](7) }},
		{"daemonset", daemonSetStrategy{}, ds, func(o runtime.Object) {
			o.(*appsv1.DaemonSet).Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.strategy.Warnings(ctx, tc.obj, nil); len(got) != 1 || got[0] != want {
				t.Fatalf("create warnings = %q, want %q", got, want)
			}
			same := tc.obj.DeepCopyObject()
			if got := tc.strategy.Warnings(ctx, same, tc.obj); got != nil {
				t.Fatalf("update without a spec change warned: %q", got)
			}
			changed := tc.obj.DeepCopyObject()
			tc.change(changed)
			if got := tc.strategy.Warnings(ctx, changed, tc.obj); len(got) != 1 || got[0] != want {
				t.Fatalf("update warnings = %q, want %q", got, want)
			}
		})
	}
}
