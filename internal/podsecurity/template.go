package podsecurity

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// PodTemplate is the pod a workload object describes.
type PodTemplate struct {
	Meta *metav1.ObjectMeta
	Spec *corev1.PodSpec
	// Prefix is the template's field path in the object, to put before a
	// Result's Fields: "" for a Pod, "spec.template." for a Deployment,
	// "spec.jobTemplate.spec.template." for a CronJob.
	Prefix string
}

// PodTemplateOf returns the pod of a Pod or the pod template of a workload
// (PodTemplate, ReplicationController, ReplicaSet, Deployment, DaemonSet,
// StatefulSet, Job, CronJob), as upstream's PodSpecExtractor. ok is false
// for other kinds and for a ReplicationController without a template.
func PodTemplateOf(obj runtime.Object) (t PodTemplate, ok bool) {
	tmpl := func(p *corev1.PodTemplateSpec, prefix string) (PodTemplate, bool) {
		if p == nil {
			return PodTemplate{}, false
		}
		return PodTemplate{Meta: &p.ObjectMeta, Spec: &p.Spec, Prefix: prefix}, true
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		return PodTemplate{Meta: &o.ObjectMeta, Spec: &o.Spec}, true
	case *corev1.PodTemplate:
		return tmpl(&o.Template, "template.")
	case *corev1.ReplicationController:
		return tmpl(o.Spec.Template, "spec.template.")
	case *appsv1.ReplicaSet:
		return tmpl(&o.Spec.Template, "spec.template.")
	case *appsv1.Deployment:
		return tmpl(&o.Spec.Template, "spec.template.")
	case *appsv1.DaemonSet:
		return tmpl(&o.Spec.Template, "spec.template.")
	case *appsv1.StatefulSet:
		return tmpl(&o.Spec.Template, "spec.template.")
	case *batchv1.Job:
		return tmpl(&o.Spec.Template, "spec.template.")
	case *batchv1.CronJob:
		return tmpl(&o.Spec.JobTemplate.Spec.Template, "spec.jobTemplate.spec.template.")
	}
	return PodTemplate{}, false
}
