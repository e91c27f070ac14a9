// Package coordination holds the registry strategy of coordination.k8s.io/v1
// leases, used for leader election and node heartbeats, with upstream's
// validation and `kubectl get` columns.
package coordination

import (
	"context"
	"fmt"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

// Resources returns the coordination.k8s.io/v1 resources.
func Resources() []registry.Resource {
	return resources(time.Now)
}

func resources(now func() time.Time) []registry.Resource {
	return []registry.Resource{{
		GroupVersion: coordinationv1.SchemeGroupVersion, Resource: "leases", Kind: "Lease", SingularName: "lease",
		Namespaced: true,
		New:        func() runtime.Object { return &coordinationv1.Lease{} },
		NewList:    func() runtime.Object { return &coordinationv1.LeaseList{} },
		Strategy:   leaseStrategy{now: now},
		// Leader election clients acquire a lease with a PUT.
		AllowCreateOnUpdate: true,
	}}
}

type leaseStrategy struct{ now func() time.Time }

var (
	_ registry.Strategy       = leaseStrategy{}
	_ registry.TableConvertor = leaseStrategy{}
)

func (leaseStrategy) Default(obj runtime.Object) {}

// PrepareForCreate drops strategy and preferredHolder: they belong to
// coordinated leader election, a beta feature off by default in 1.37.
func (leaseStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	if l, ok := obj.(*coordinationv1.Lease); ok {
		l.Spec.Strategy = nil
		l.Spec.PreferredHolder = nil
	}
}

func (leaseStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	l, ok1 := obj.(*coordinationv1.Lease)
	o, ok2 := old.(*coordinationv1.Lease)
	if !ok1 || !ok2 {
		return
	}
	if o.Spec.Strategy == nil {
		l.Spec.Strategy = nil
	}
	if o.Spec.PreferredHolder == nil {
		l.Spec.PreferredHolder = nil
	}
}

func (leaseStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	l, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("expected *v1.Lease, got %T", obj))}
	}
	return validateLeaseSpec(&l.Spec, field.NewPath("spec"))
}

func (s leaseStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return s.Validate(ctx, obj)
}

func validateLeaseSpec(spec *coordinationv1.LeaseSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.LeaseDurationSeconds != nil && *spec.LeaseDurationSeconds <= 0 {
		errs = append(errs, field.Invalid(p.Child("leaseDurationSeconds"), spec.LeaseDurationSeconds, "must be greater than 0"))
	}
	if spec.LeaseTransitions != nil && *spec.LeaseTransitions < 0 {
		errs = append(errs, field.Invalid(p.Child("leaseTransitions"), spec.LeaseTransitions, "must be greater than or equal to 0"))
	}
	if spec.Strategy != nil {
		errs = append(errs, validateStrategy(*spec.Strategy, p.Child("strategy"))...)
	}
	if spec.PreferredHolder != nil && *spec.PreferredHolder != "" && (spec.Strategy == nil || *spec.Strategy == "") {
		errs = append(errs, field.Forbidden(p.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return errs
}

// validateStrategy: a bare name must be one Kubernetes defines; anything
// else must be a prefixed, qualified name. Upstream reports it at
// spec.strategy.strategy.
func validateStrategy(s coordinationv1.CoordinatedLeaseStrategy, p *field.Path) field.ErrorList {
	if !strings.Contains(string(s), "/") {
		if s != coordinationv1.OldestEmulationVersion {
			return field.ErrorList{field.NotSupported(p.Child("strategy"), s, []string{string(coordinationv1.OldestEmulationVersion)})}
		}
		return nil
	}
	var errs field.ErrorList
	for _, msg := range content.IsLabelKey(string(s)) {
		errs = append(errs, field.Invalid(p.Child("strategy"), s, msg))
	}
	return errs
}

func (leaseStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
		{Name: "Holder", Type: "string", Description: coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]},
		{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
	}
}

func (s leaseStrategy) Row(obj runtime.Object) []interface{} {
	l, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return nil
	}
	var holder string
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	age := "<unknown>"
	if !l.CreationTimestamp.IsZero() {
		age = duration.HumanDuration(s.now().Sub(l.CreationTimestamp.Time))
	}
	return []interface{}{l.Name, holder, age}
}
