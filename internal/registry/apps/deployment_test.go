package apps

import (
	"context"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func newDeployment() *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: objectMeta("web"),
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: appLabels},
			Template: podTemplate(appLabels),
		},
	}
	deploymentStrategy{}.Default(d)
	return d
}

func TestDeploymentDefault(t *testing.T) {
	d := &appsv1.Deployment{}
	deploymentStrategy{}.Default(d)
	want := appsv1.DeploymentSpec{
		Replicas: ptrTo[int32](1),
		Strategy: appsv1.DeploymentStrategy{
			Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxUnavailable: ptrTo(intstr.FromString("25%")),
				MaxSurge:       ptrTo(intstr.FromString("25%")),
			},
		},
		RevisionHistoryLimit:    ptrTo[int32](10),
		ProgressDeadlineSeconds: ptrTo[int32](600),
		Template:                d.Spec.Template, // pod defaults belong to package core
	}
	if !reflect.DeepEqual(d.Spec, want) {
		t.Fatalf("defaults:\n got  %+v\n want %+v", d.Spec, want)
	}

	t.Run("recreate gets no rolling update", func(t *testing.T) {
		d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}}}
		deploymentStrategy{}.Default(d)
		if d.Spec.Strategy.RollingUpdate != nil {
			t.Fatalf("rollingUpdate = %+v, want nil", d.Spec.Strategy.RollingUpdate)
		}
	})
	t.Run("explicit values kept", func(t *testing.T) {
		d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptrTo[int32](0), Strategy: appsv1.DeploymentStrategy{
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptrTo(intstr.FromInt32(3))},
		}}}
		deploymentStrategy{}.Default(d)
		if *d.Spec.Replicas != 0 || d.Spec.Strategy.RollingUpdate.MaxSurge.IntVal != 3 || d.Spec.Strategy.RollingUpdate.MaxUnavailable.StrVal != "25%" {
			t.Fatalf("got %+v", d.Spec)
		}
	})
}

func TestDeploymentValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*appsv1.Deployment)
		want   []want
	}{
		{"valid", func(*appsv1.Deployment) {}, nil},
		{"selector does not match template", func(d *appsv1.Deployment) {
			d.Spec.Template.Labels = map[string]string{"app": "other"}
		}, []want{{field.ErrorTypeInvalid, "spec.template.metadata.labels", "`selector` does not match template `labels`"}}},
		{"selector missing", func(d *appsv1.Deployment) { d.Spec.Selector = nil }, []want{
			{field.ErrorTypeRequired, "spec.selector", ""},
			{field.ErrorTypeInvalid, "spec.template.metadata.labels", ""},
		}},
		{"selector empty", func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }, []want{
			{field.ErrorTypeInvalid, "spec.selector", "empty selector is invalid for deployment"},
		}},
		{"selector bad operator", func(d *appsv1.Deployment) {
			d.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}}
		}, []want{
			{field.ErrorTypeInvalid, "spec.selector.matchExpressions[0].operator", ""},
			{field.ErrorTypeInvalid, "spec.selector", "invalid label selector"},
		}},
		{"negative replicas", func(d *appsv1.Deployment) { d.Spec.Replicas = ptrTo[int32](-1) }, []want{
			{field.ErrorTypeInvalid, "spec.replicas", "must be greater than or equal to 0"},
		}},
		{"restartPolicy Never", func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }, []want{
			{field.ErrorTypeNotSupported, "spec.template.spec.restartPolicy", `supported values: "Always"`},
		}},
		{"activeDeadlineSeconds", func(d *appsv1.Deployment) { d.Spec.Template.Spec.ActiveDeadlineSeconds = ptrTo[int64](5) }, []want{
			{field.ErrorTypeForbidden, "spec.template.spec.activeDeadlineSeconds", "activeDeadlineSeconds in ReplicaSet is not Supported"},
		}},
		{"both surge and unavailable zero", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptrTo(intstr.FromInt32(0))
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptrTo(intstr.FromString("0%"))
		}, []want{{field.ErrorTypeInvalid, "spec.strategy.rollingUpdate.maxUnavailable", "may not be 0 when `maxSurge` is 0"}}},
		{"bad percentage", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptrTo(intstr.FromString("abc"))
		}, []want{{field.ErrorTypeInvalid, "spec.strategy.rollingUpdate.maxSurge", "a valid percent string"}}},
		{"unavailable over 100%", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptrTo(intstr.FromString("110%"))
		}, []want{{field.ErrorTypeInvalid, "spec.strategy.rollingUpdate.maxUnavailable", "must not be greater than 100%"}}},
		{"negative surge", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptrTo(intstr.FromInt32(-1))
		}, []want{{field.ErrorTypeInvalid, "spec.strategy.rollingUpdate.maxSurge", ""}}},
		{"recreate with rolling update", func(d *appsv1.Deployment) {
			d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
		}, []want{{field.ErrorTypeForbidden, "spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"}}},
		{"unknown strategy", func(d *appsv1.Deployment) {
			d.Spec.Strategy.Type = "BlueGreen"
		}, []want{{field.ErrorTypeNotSupported, "spec.strategy", ""}}},
		{"progress deadline not above minReady", func(d *appsv1.Deployment) {
			d.Spec.MinReadySeconds = 600
		}, []want{{field.ErrorTypeInvalid, "spec.progressDeadlineSeconds", "must be greater than minReadySeconds"}}},
		{"negative revision history", func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptrTo[int32](-2) }, []want{
			{field.ErrorTypeInvalid, "spec.revisionHistoryLimit", ""},
		}},
		{"pod template validated by core", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers = nil }, []want{
			{field.ErrorTypeRequired, "spec.template.spec.containers", ""},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newDeployment()
			tc.mutate(d)
			checkErrors(t, deploymentStrategy{}.Validate(context.Background(), d), tc.want)
		})
	}
}

func TestDeploymentValidateUpdate(t *testing.T) {
	old := newDeployment()
	t.Run("selector immutable", func(t *testing.T) {
		d := old.DeepCopy()
		d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "x"}}
		d.Spec.Template.Labels = map[string]string{"app": "web", "tier": "x"}
		checkErrors(t, deploymentStrategy{}.ValidateUpdate(context.Background(), d, old), []want{
			{field.ErrorTypeInvalid, "spec.selector", "field is immutable"},
		})
	})
	t.Run("scale and image change allowed", func(t *testing.T) {
		d := old.DeepCopy()
		d.Spec.Replicas = ptrTo[int32](5)
		d.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
		checkErrors(t, deploymentStrategy{}.ValidateUpdate(context.Background(), d, old), nil)
	})
}

func TestDeploymentGenerationOnAnnotationChange(t *testing.T) {
	old := newDeployment()
	old.Generation = 3
	d := old.DeepCopy()
	d.Annotations = map[string]string{"kubernetes.io/change-cause": "x"}
	deploymentStrategy{}.PrepareForUpdate(context.Background(), d, old)
	if d.Generation != 4 {
		t.Fatalf("generation = %d, want 4", d.Generation)
	}
}

func TestDeploymentValidateStatus(t *testing.T) {
	cases := []struct {
		name        string
		status, old appsv1.DeploymentStatus
		want        []want
	}{
		{"valid", appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 2, AvailableReplicas: 2, UpdatedReplicas: 3}, appsv1.DeploymentStatus{}, nil},
		{"ready above replicas", appsv1.DeploymentStatus{Replicas: 1, ReadyReplicas: 2}, appsv1.DeploymentStatus{}, []want{
			{field.ErrorTypeInvalid, "status.readyReplicas", "cannot be greater than status.replicas"},
		}},
		{"available above ready", appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 1, AvailableReplicas: 2}, appsv1.DeploymentStatus{}, []want{
			{field.ErrorTypeInvalid, "status.availableReplicas", "cannot be greater than readyReplicas"},
		}},
		{"negative", appsv1.DeploymentStatus{UnavailableReplicas: -1, ObservedGeneration: -1}, appsv1.DeploymentStatus{}, []want{
			{field.ErrorTypeInvalid, "status.unavailableReplicas", ""},
			{field.ErrorTypeInvalid, "status.observedGeneration", ""},
		}},
		{"collision count decremented", appsv1.DeploymentStatus{CollisionCount: ptrTo[int32](1)}, appsv1.DeploymentStatus{CollisionCount: ptrTo[int32](2)}, []want{
			{field.ErrorTypeInvalid, "status.collisionCount", "cannot be decremented"},
		}},
		{"collision count removed", appsv1.DeploymentStatus{}, appsv1.DeploymentStatus{CollisionCount: ptrTo[int32](2)}, []want{
			{field.ErrorTypeInvalid, "status.collisionCount", "cannot be decremented"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := newDeployment()
			old.Status = tc.old
			d := old.DeepCopy()
			d.Status = tc.status
			checkErrors(t, deploymentStrategy{}.ValidateStatusUpdate(context.Background(), d, old), tc.want)
		})
	}
}

func TestDeploymentTableAndScale(t *testing.T) {
	d := newDeployment()
	d.Spec.Replicas = ptrTo[int32](3)
	d.Status = appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}
	s := deploymentStrategy{now: clock}
	row := s.Row(d)
	want := []interface{}{"web", "2/3", int64(3), int64(2), "60m", "web,log", "nginx:1.27,busybox", "app=web"}
	if !reflect.DeepEqual(row, want) {
		t.Fatalf("row = %#v, want %#v", row, want)
	}
	if len(row) != len(s.ColumnDefinitions()) {
		t.Fatalf("%d cells for %d columns", len(row), len(s.ColumnDefinitions()))
	}
	spec, status, sel := deploymentScale.Get(d)
	if spec != 3 || status != 3 || sel != "app=web" {
		t.Fatalf("scale = %d %d %q", spec, status, sel)
	}
	deploymentScale.Set(d, 7)
	if *d.Spec.Replicas != 7 {
		t.Fatalf("replicas = %d after Set(7)", *d.Spec.Replicas)
	}
	if got := s.Warnings(context.Background(), &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "a.b"}}, nil); len(got) != 1 {
		t.Fatalf("warnings = %v, want the DNS label warning", got)
	}
}

func TestWrongTypeIsAnError(t *testing.T) {
	// A wiring bug must surface as an internal error, never a panic.
	for _, r := range resources(clock) {
		errs := r.Strategy.Validate(context.Background(), &corev1.ConfigMap{})
		if len(errs) != 1 || errs[0].Type != field.ErrorTypeInternal {
			t.Errorf("%s: Validate(wrong type) = %v", r.Resource, errs)
		}
		r.Strategy.Default(&corev1.ConfigMap{})
		r.Strategy.PrepareForCreate(context.Background(), &corev1.ConfigMap{})
		r.Strategy.PrepareForUpdate(context.Background(), &corev1.ConfigMap{}, &corev1.ConfigMap{})
	}
}
