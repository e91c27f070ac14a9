package podautoscaler

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/client-go/rest"
)

// errNoReplicaCalculation is what a metric gets if its metrics API does
// answer: this controller has no replica calculator. Skiff serves none of
// the metrics APIs, so only a future aggregation layer could get here.
var errNoReplicaCalculation = errors.New("computing a replica count from metric values is not supported by this controller")

// metricsAPI fetches the metric values an HPA names from the API
// server's metrics APIs (upstream's metrics clients), returning the
// request's error.
type metricsAPI struct {
	rest rest.Interface
}

// fetch asks the metrics API behind metric m for the values of the pods
// that selector selects in ns. What it returns is only ever a failure:
// the API's own error (none is served: 404), or errNoReplicaCalculation,
// wrapped in upstream's words: reason is the ScalingActive condition's
// reason and the event's, err the event's message, and outer the prefix
// upstream puts before err in FailedComputeMetricsReplicas.
func (a metricsAPI) fetch(ctx context.Context, ns, selector string, m autoscalingv2.MetricSpec) (reason, outer string, err error) {
	get := func(p string, sel string) error {
		req := a.rest.Get().AbsPath(p)
		if sel != "" {
			req = req.Param("labelSelector", sel)
		}
		if err := req.Do(ctx).Error(); err != nil {
			return err
		}
		return errNoReplicaCalculation
	}
	resource := func(name string, utilization bool) error {
		err := get(path.Join("/apis/metrics.k8s.io/v1beta1/namespaces", ns, "pods"), selector)
		what := "usage"
		if utilization {
			what = "utilization"
		}
		return fmt.Errorf("failed to get %s %s: unable to get metrics for resource %s: unable to fetch metrics from resource metrics API: %w", name, what, name, err)
	}
	custom := "/apis/custom.metrics.k8s.io/v1beta2/namespaces"
	switch {
	case m.Resource != nil:
		name := string(m.Resource.Name)
		return "FailedGetResourceMetric", fmt.Sprintf("failed to get %s resource metric value", name), resource(name, m.Resource.Target.AverageUtilization != nil)
	case m.ContainerResource != nil:
		name := string(m.ContainerResource.Name)
		return "FailedGetContainerResourceMetric", fmt.Sprintf("failed to get %s container metric value", name), resource(name, m.ContainerResource.Target.AverageUtilization != nil)
	case m.Pods != nil:
		err := get(path.Join(custom, ns, "pods", "*", url.PathEscape(m.Pods.Metric.Name)), selector)
		return "FailedGetPodsMetric", "failed to get pods metric value",
			fmt.Errorf("unable to get metric %s: unable to fetch metrics from custom metrics API: %w", m.Pods.Metric.Name, err)
	case m.Object != nil:
		ref := m.Object.DescribedObject
		err := get(path.Join(custom, ns, strings.ToLower(ref.Kind)+"s", ref.Name, url.PathEscape(m.Object.Metric.Name)), "")
		return "FailedGetObjectMetric", "failed to get object metric value",
			fmt.Errorf("unable to get metric %s: %s on %s %s/%s: unable to fetch metrics from custom metrics API: %w", m.Object.Metric.Name, ref.Kind, ns, ref.Kind, ref.Name, err)
	case m.External != nil:
		err := get(path.Join("/apis/external.metrics.k8s.io/v1beta1/namespaces", ns, url.PathEscape(m.External.Metric.Name)), "")
		return "FailedGetExternalMetric", "failed to get external metric value",
			fmt.Errorf("unable to get external metric %s/%s: unable to fetch metrics from external metrics API: %w", ns, m.External.Metric.Name, err)
	}
	return "InvalidMetricSourceType", "invalid metric source type", fmt.Errorf("unknown metric source type %q", m.Type)
}
