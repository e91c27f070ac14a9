package autoscaling

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var fixedNow = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func keys(errs field.ErrorList) string {
	var out []string
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

func qty(s string) *resource.Quantity { q := resource.MustParse(s); return &q }

func newHPA() *autoscalingv2.HorizontalPodAutoscaler {
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: metav1.NewTime(fixedNow.Add(-time.Hour))},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MaxReplicas:    10,
		},
	}
	DefaultV2(hpa)
	return hpa
}

func TestDefaultV2(t *testing.T) {
	hpa := newHPA()
	if *hpa.Spec.MinReplicas != 1 || !reflect.DeepEqual(hpa.Spec.Metrics, []autoscalingv2.MetricSpec{cpuUtilizationMetric(80)}) || hpa.Spec.Behavior != nil {
		t.Fatalf("spec = %+v", hpa.Spec)
	}
	hpa.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptrTo[int32](60)}}
	DefaultV2(hpa)
	b := hpa.Spec.Behavior
	if !reflect.DeepEqual(b.ScaleUp, defaultScaleUpRules()) || *b.ScaleDown.StabilizationWindowSeconds != 60 ||
		*b.ScaleDown.SelectPolicy != autoscalingv2.MaxChangePolicySelect || len(b.ScaleDown.Policies) != 1 {
		t.Fatalf("behavior = %+v / %+v", b.ScaleUp, b.ScaleDown)
	}
}

func TestValidateV2(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*autoscalingv2.HorizontalPodAutoscaler)
		want   string
	}{
		{"valid", func(*autoscalingv2.HorizontalPodAutoscaler) {}, ""},
		{"maxReplicas unset", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MaxReplicas = 0 }, "FieldValueInvalid spec.maxReplicas; FieldValueRequired spec.maxReplicas"},
		{"min above max", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = ptrTo[int32](20) }, "FieldValueInvalid spec.maxReplicas"},
		{"target needs a group", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.APIVersion = "v1" }, "FieldValueInvalid spec.scaleTargetRef.apiVersion"},
		{"replication controllers are in the core group", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{APIVersion: "v1", Kind: "ReplicationController", Name: "rc"}
		}, ""},
		{"target name", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Name = "" }, "FieldValueRequired spec.scaleTargetRef.name"},
		{"scale to zero needs object or external metric", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = ptrTo[int32](0) }, "FieldValueForbidden spec.metrics"},
		{"scale to zero with external metric", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.MinReplicas = ptrTo[int32](0)
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: "queue_depth"},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: qty("30")},
			}}}
		}, ""},
		{"resource target missing", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Resource.Target = autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType}
		}, "FieldValueRequired spec.metrics[0].resource.target.averageUtilization"},
		{"utilization zero", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Resource.Target.AverageUtilization = ptrTo[int32](0)
		}, "FieldValueInvalid spec.metrics[0].resource.target.averageUtilization"},
		{"type and source disagree", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Type = autoscalingv2.PodsMetricSourceType
		}, "FieldValueRequired spec.metrics[0].pods"},
		{"two sources", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Pods = &autoscalingv2.PodsMetricSource{Metric: autoscalingv2.MetricIdentifier{Name: "rps"}, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: qty("1")}}
		}, "FieldValueForbidden spec.metrics[0].pods"},
		{"container resource", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0] = autoscalingv2.MetricSpec{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
				Name: "gpu", Container: "Main", Target: autoscalingv2.MetricTarget{Type: "Percent", AverageValue: qty("-1")},
			}}
		}, "FieldValueInvalid spec.metrics[0].containerResource.container; FieldValueInvalid spec.metrics[0].containerResource.name; " +
			"FieldValueInvalid spec.metrics[0].containerResource.target.averageValue; FieldValueInvalid spec.metrics[0].containerResource.target.type"},
		{"behavior", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{
				StabilizationWindowSeconds: ptrTo[int32](4000),
				SelectPolicy:               ptrTo(autoscalingv2.ScalingPolicySelect("Avg")),
				Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: "Nodes", Value: 0, PeriodSeconds: 2000}},
				Tolerance:                  qty("-0.1"),
			}, ScaleDown: &autoscalingv2.HPAScalingRules{}}
		}, strings.Join([]string{
			"FieldValueInvalid spec.behavior.scaleUp.policies[0].periodSeconds",
			"FieldValueInvalid spec.behavior.scaleUp.policies[0].value",
			"FieldValueInvalid spec.behavior.scaleUp.stabilizationWindowSeconds",
			"FieldValueInvalid spec.behavior.scaleUp.tolerance",
			"FieldValueNotSupported spec.behavior.scaleUp.policies[0].type",
			"FieldValueNotSupported spec.behavior.scaleUp.selectPolicy",
			"FieldValueRequired spec.behavior.scaleDown.policies",
		}, "; ")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hpa := newHPA()
			tc.mutate(hpa)
			if got := keys(v2Strategy{}.Validate(context.Background(), hpa)); got != tc.want {
				t.Fatalf("errors:\n got  %s\n want %s", got, tc.want)
			}
		})
	}
}

func TestValidateUpdateToleratesStoredTarget(t *testing.T) {
	old := newHPA()
	old.Spec.ScaleTargetRef.APIVersion = "extensions/v1beta1/x"
	hpa := old.DeepCopy()
	hpa.Spec.MaxReplicas = 5
	if errs := (v2Strategy{}).ValidateUpdate(context.Background(), hpa, old); len(errs) != 0 {
		t.Fatalf("errors = %v", errs)
	}
	if errs := (v2Strategy{}).Validate(context.Background(), hpa); len(errs) != 1 {
		t.Fatalf("create errors = %v", errs)
	}
}

func TestV1ValidationUsesV2Paths(t *testing.T) {
	hpa := &autoscalingv1.HorizontalPodAutoscaler{Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
		ScaleTargetRef:                 autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
		MaxReplicas:                    3,
		TargetCPUUtilizationPercentage: ptrTo[int32](0),
	}}
	v1Strategy{}.Default(hpa)
	if got := keys(v1Strategy{}.Validate(context.Background(), hpa)); got != "FieldValueInvalid spec.metrics[0].resource.target.averageUtilization" {
		t.Fatalf("errors = %s", got)
	}
}

func TestConversionRoundTrip(t *testing.T) {
	hpa := newHPA()
	hpa.Annotations = map[string]string{"team": "web"}
	hpa.Spec.Metrics = []autoscalingv2.MetricSpec{
		{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: "rps"}, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: qty("100")}}},
		{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
			DescribedObject: autoscalingv2.CrossVersionObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "web"},
			Metric:          autoscalingv2.MetricIdentifier{Name: "hits"}, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: qty("2k")}}},
		{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: "queue"}, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: qty("30")}}},
		{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
			Name: corev1.ResourceMemory, Container: "app", Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: qty("512Mi")}}},
		cpuUtilizationMetric(60),
	}
	hpa.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptrTo[int32](300)}}
	DefaultV2(hpa)
	hpa.Status = autoscalingv2.HorizontalPodAutoscalerStatus{
		ObservedGeneration: ptrTo[int64](2), CurrentReplicas: 3, DesiredReplicas: 4,
		CurrentMetrics: []autoscalingv2.MetricStatus{
			{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
				Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptrTo[int32](75), AverageValue: qty("150m")}}},
		},
		Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "ReadyForNewScale"}},
	}

	v1 := ConvertV2ToV1(hpa)
	if *v1.Spec.TargetCPUUtilizationPercentage != 60 || *v1.Status.CurrentCPUUtilizationPercentage != 75 || v1.Annotations["team"] != "web" {
		t.Fatalf("v1 = %+v", v1)
	}
	if b := v1.Annotations[behaviorAnnotation]; !strings.Contains(b, `"ScaleDown":{"StabilizationWindowSeconds":300,"SelectPolicy":"Max"`) {
		t.Fatalf("behavior annotation uses upstream's untagged form: %s", b)
	}
	if hpa.Annotations[metricSpecsAnnotation] != "" {
		t.Fatal("the input was modified")
	}
	back := ConvertV1ToV2(v1)
	back.TypeMeta = hpa.TypeMeta
	if !reflect.DeepEqual(back, hpa) {
		t.Fatalf("round trip:\n got  %+v\n want %+v", back, hpa)
	}
}

func TestConvertV1WithoutMetrics(t *testing.T) {
	v2 := ConvertV1ToV2(&autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{metricSpecsAnnotation: "{not json"}}})
	if !reflect.DeepEqual(v2.Spec.Metrics, []autoscalingv2.MetricSpec{cpuUtilizationMetric(80)}) || len(v2.Annotations) != 0 {
		t.Fatalf("v2 = %+v", v2)
	}
}

func TestRow(t *testing.T) {
	s := v2Strategy{now: func() time.Time { return fixedNow }}
	hpa := newHPA()
	want := []interface{}{"web", "Deployment/web", "cpu: <unknown>/80%", "1", int64(10), int64(0), "60m"}
	if got := s.Row(hpa); !reflect.DeepEqual(got, want) {
		t.Fatalf("row = %#v", got)
	}
	hpa.Spec.Metrics = append(hpa.Spec.Metrics,
		autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: qty("1Gi")}}},
		autoscalingv2.MetricSpec{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
			Target: autoscalingv2.MetricTarget{AverageValue: qty("30")}}},
	)
	hpa.Status.CurrentMetrics = []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
		Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptrTo[int32](42)}}}}
	if got := s.Row(hpa)[2]; got != "cpu: 42%/80%, memory: <unknown>/1Gi + 1 more..." {
		t.Fatalf("targets = %q", got)
	}
	v1 := v1Strategy{now: s.now}
	if got := v1.Row(ConvertV2ToV1(newHPA())); !reflect.DeepEqual(got, want) {
		t.Fatalf("v1 row = %#v", got)
	}
	// A malformed stored object must not panic the table.
	s.Row(&autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.PodsMetricSourceType}}}})
}
