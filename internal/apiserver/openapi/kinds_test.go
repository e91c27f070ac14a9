package openapi

import (
	"reflect"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// testKinds is roughly the set of resources the API server serves: about
// sixty kinds across the stable groups.
func testKinds() []Kind {
	status := []Subresource{{Name: "status"}}
	scale := Subresource{
		Name: "scale", Type: reflect.TypeFor[autoscalingv1.Scale](),
		GVK: schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"},
	}
	k := func(gv schema.GroupVersion, kind, resource string, namespaced bool, obj, list any, subs ...Subresource) Kind {
		return Kind{
			GVK: gv.WithKind(kind), Type: reflect.TypeOf(obj), ListType: reflect.TypeOf(list),
			Resource: resource, Namespaced: namespaced, Subresources: subs,
		}
	}
	core := schema.GroupVersion{Version: "v1"}
	apps := appsv1.SchemeGroupVersion
	rbac := rbacv1.SchemeGroupVersion
	return []Kind{
		k(core, "Pod", "pods", true, corev1.Pod{}, corev1.PodList{}, status[0],
			Subresource{Name: "eviction", Type: reflect.TypeFor[policyv1.Eviction](), GVK: policyv1.SchemeGroupVersion.WithKind("Eviction"), Verbs: []string{"create"}},
			Subresource{Name: "binding", Type: reflect.TypeFor[corev1.Binding](), GVK: core.WithKind("Binding"), Verbs: []string{"create"}}),
		k(core, "Service", "services", true, corev1.Service{}, corev1.ServiceList{}, status...),
		k(core, "ConfigMap", "configmaps", true, corev1.ConfigMap{}, corev1.ConfigMapList{}),
		k(core, "Secret", "secrets", true, corev1.Secret{}, corev1.SecretList{}),
		k(core, "Namespace", "namespaces", false, corev1.Namespace{}, corev1.NamespaceList{}, status...),
		k(core, "Node", "nodes", false, corev1.Node{}, corev1.NodeList{}, status...),
		k(core, "Event", "events", true, corev1.Event{}, corev1.EventList{}),
		k(core, "Endpoints", "endpoints", true, corev1.Endpoints{}, corev1.EndpointsList{}),
		k(core, "ServiceAccount", "serviceaccounts", true, corev1.ServiceAccount{}, corev1.ServiceAccountList{}),
		k(core, "PersistentVolume", "persistentvolumes", false, corev1.PersistentVolume{}, corev1.PersistentVolumeList{}, status...),
		k(core, "PersistentVolumeClaim", "persistentvolumeclaims", true, corev1.PersistentVolumeClaim{}, corev1.PersistentVolumeClaimList{}, status...),
		k(core, "ReplicationController", "replicationcontrollers", true, corev1.ReplicationController{}, corev1.ReplicationControllerList{}, status[0], scale),
		k(core, "LimitRange", "limitranges", true, corev1.LimitRange{}, corev1.LimitRangeList{}),
		k(core, "ResourceQuota", "resourcequotas", true, corev1.ResourceQuota{}, corev1.ResourceQuotaList{}, status...),
		k(core, "PodTemplate", "podtemplates", true, corev1.PodTemplate{}, corev1.PodTemplateList{}),
		{GVK: core.WithKind("Binding"), Type: reflect.TypeFor[corev1.Binding](), Resource: "bindings", Namespaced: true, Verbs: []string{"create"}},
		k(apps, "Deployment", "deployments", true, appsv1.Deployment{}, appsv1.DeploymentList{}, status[0], scale),
		k(apps, "ReplicaSet", "replicasets", true, appsv1.ReplicaSet{}, appsv1.ReplicaSetList{}, status[0], scale),
		k(apps, "StatefulSet", "statefulsets", true, appsv1.StatefulSet{}, appsv1.StatefulSetList{}, status[0], scale),
		k(apps, "DaemonSet", "daemonsets", true, appsv1.DaemonSet{}, appsv1.DaemonSetList{}, status...),
		k(apps, "ControllerRevision", "controllerrevisions", true, appsv1.ControllerRevision{}, appsv1.ControllerRevisionList{}),
		k(batchv1.SchemeGroupVersion, "Job", "jobs", true, batchv1.Job{}, batchv1.JobList{}, status...),
		k(batchv1.SchemeGroupVersion, "CronJob", "cronjobs", true, batchv1.CronJob{}, batchv1.CronJobList{}, status...),
		k(autoscalingv1.SchemeGroupVersion, "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, autoscalingv1.HorizontalPodAutoscaler{}, autoscalingv1.HorizontalPodAutoscalerList{}, status...),
		k(autoscalingv2.SchemeGroupVersion, "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, autoscalingv2.HorizontalPodAutoscaler{}, autoscalingv2.HorizontalPodAutoscalerList{}, status...),
		k(networkingv1.SchemeGroupVersion, "Ingress", "ingresses", true, networkingv1.Ingress{}, networkingv1.IngressList{}, status...),
		k(networkingv1.SchemeGroupVersion, "IngressClass", "ingressclasses", false, networkingv1.IngressClass{}, networkingv1.IngressClassList{}),
		k(networkingv1.SchemeGroupVersion, "NetworkPolicy", "networkpolicies", true, networkingv1.NetworkPolicy{}, networkingv1.NetworkPolicyList{}),
		k(networkingv1.SchemeGroupVersion, "IPAddress", "ipaddresses", false, networkingv1.IPAddress{}, networkingv1.IPAddressList{}),
		k(networkingv1.SchemeGroupVersion, "ServiceCIDR", "servicecidrs", false, networkingv1.ServiceCIDR{}, networkingv1.ServiceCIDRList{}, status...),
		k(policyv1.SchemeGroupVersion, "PodDisruptionBudget", "poddisruptionbudgets", true, policyv1.PodDisruptionBudget{}, policyv1.PodDisruptionBudgetList{}, status...),
		k(rbac, "Role", "roles", true, rbacv1.Role{}, rbacv1.RoleList{}),
		k(rbac, "RoleBinding", "rolebindings", true, rbacv1.RoleBinding{}, rbacv1.RoleBindingList{}),
		k(rbac, "ClusterRole", "clusterroles", false, rbacv1.ClusterRole{}, rbacv1.ClusterRoleList{}),
		k(rbac, "ClusterRoleBinding", "clusterrolebindings", false, rbacv1.ClusterRoleBinding{}, rbacv1.ClusterRoleBindingList{}),
		k(storagev1.SchemeGroupVersion, "StorageClass", "storageclasses", false, storagev1.StorageClass{}, storagev1.StorageClassList{}),
		k(storagev1.SchemeGroupVersion, "CSIDriver", "csidrivers", false, storagev1.CSIDriver{}, storagev1.CSIDriverList{}),
		k(storagev1.SchemeGroupVersion, "CSINode", "csinodes", false, storagev1.CSINode{}, storagev1.CSINodeList{}),
		k(storagev1.SchemeGroupVersion, "CSIStorageCapacity", "csistoragecapacities", true, storagev1.CSIStorageCapacity{}, storagev1.CSIStorageCapacityList{}),
		k(storagev1.SchemeGroupVersion, "VolumeAttachment", "volumeattachments", false, storagev1.VolumeAttachment{}, storagev1.VolumeAttachmentList{}, status...),
		k(schedulingv1.SchemeGroupVersion, "PriorityClass", "priorityclasses", false, schedulingv1.PriorityClass{}, schedulingv1.PriorityClassList{}),
		k(coordinationv1.SchemeGroupVersion, "Lease", "leases", true, coordinationv1.Lease{}, coordinationv1.LeaseList{}),
		k(discoveryv1.SchemeGroupVersion, "EndpointSlice", "endpointslices", true, discoveryv1.EndpointSlice{}, discoveryv1.EndpointSliceList{}),
		k(eventsv1.SchemeGroupVersion, "Event", "events", true, eventsv1.Event{}, eventsv1.EventList{}),
		k(admissionregistrationv1.SchemeGroupVersion, "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", false, admissionregistrationv1.MutatingWebhookConfiguration{}, admissionregistrationv1.MutatingWebhookConfigurationList{}),
		k(admissionregistrationv1.SchemeGroupVersion, "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", false, admissionregistrationv1.ValidatingWebhookConfiguration{}, admissionregistrationv1.ValidatingWebhookConfigurationList{}),
		k(admissionregistrationv1.SchemeGroupVersion, "ValidatingAdmissionPolicy", "validatingadmissionpolicies", false, admissionregistrationv1.ValidatingAdmissionPolicy{}, admissionregistrationv1.ValidatingAdmissionPolicyList{}, status...),
		k(admissionregistrationv1.SchemeGroupVersion, "ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings", false, admissionregistrationv1.ValidatingAdmissionPolicyBinding{}, admissionregistrationv1.ValidatingAdmissionPolicyBindingList{}),
		k(certificatesv1.SchemeGroupVersion, "CertificateSigningRequest", "certificatesigningrequests", false, certificatesv1.CertificateSigningRequest{}, certificatesv1.CertificateSigningRequestList{}, status[0], Subresource{Name: "approval"}),
		k(nodev1.SchemeGroupVersion, "RuntimeClass", "runtimeclasses", false, nodev1.RuntimeClass{}, nodev1.RuntimeClassList{}),
		k(flowcontrolv1.SchemeGroupVersion, "FlowSchema", "flowschemas", false, flowcontrolv1.FlowSchema{}, flowcontrolv1.FlowSchemaList{}, status...),
		k(flowcontrolv1.SchemeGroupVersion, "PriorityLevelConfiguration", "prioritylevelconfigurations", false, flowcontrolv1.PriorityLevelConfiguration{}, flowcontrolv1.PriorityLevelConfigurationList{}, status...),
	}
}
