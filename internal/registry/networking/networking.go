// Package networking holds the registry strategies of networking.k8s.io/v1:
// ingresses, ingressclasses and networkpolicies, with upstream's defaults,
// validation (field paths and messages of pkg/apis/networking/validation,
// 1.37 gates: relaxed service names and strict IP/CIDR parsing) and
// `kubectl get` columns. The IngressClass admission (defaulting
// spec.ingressClassName from the default class) is an admission plug-in,
// not part of these strategies.
package networking

import (
	"fmt"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

// Resources returns the networking.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return resources(time.Now)
}

func resources(now func() time.Time) []registry.Resource {
	gv := networkingv1.SchemeGroupVersion
	return []registry.Resource{
		{
			GroupVersion: gv, Resource: "ingresses", Kind: "Ingress", SingularName: "ingress",
			Namespaced: true, ShortNames: []string{"ing"},
			New:      func() runtime.Object { return &networkingv1.Ingress{} },
			NewList:  func() runtime.Object { return &networkingv1.IngressList{} },
			Strategy: ingressStrategy{now: now}, HasStatus: true, HasGeneration: true,
		},
		{
			GroupVersion: gv, Resource: "ingressclasses", Kind: "IngressClass", SingularName: "ingressclass",
			New:      func() runtime.Object { return &networkingv1.IngressClass{} },
			NewList:  func() runtime.Object { return &networkingv1.IngressClassList{} },
			Strategy: ingressClassStrategy{now: now}, HasGeneration: true,
		},
		{
			GroupVersion: gv, Resource: "networkpolicies", Kind: "NetworkPolicy", SingularName: "networkpolicy",
			Namespaced: true, ShortNames: []string{"netpol"},
			New:      func() runtime.Object { return &networkingv1.NetworkPolicy{} },
			NewList:  func() runtime.Object { return &networkingv1.NetworkPolicyList{} },
			Strategy: networkPolicyStrategy{now: now}, HasGeneration: true,
		},
	}
}

func wrongType(obj runtime.Object, want string) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected %s, got %T", want, obj))}
}

var (
	nameColumn = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]}
	ageColumn  = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}
)

func age(now time.Time, t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}
