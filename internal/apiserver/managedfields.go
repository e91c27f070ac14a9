package apiserver

import (
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
)

// strategyDefaulter adapts a resource's Strategy to runtime.ObjectDefaulter
// for the field manager (server-side apply defaults the merged object).
type strategyDefaulter struct{ r *resource }

func (d strategyDefaulter) Default(obj runtime.Object) { d.r.def.Strategy.Default(obj) }

// fieldManagers are a resource's managedFields trackers, built on first
// use: they need the type converter, whose schema takes over 100 ms to
// parse, which start-up should not pay.
type fieldManagers struct {
	once   sync.Once
	main   *managedfields.FieldManager
	status *managedfields.FieldManager
	err    error
}

// converter returns the structured-merge-diff type converter for every
// built-in type, parsing its schema on first call.
func (s *Server) converter() managedfields.TypeConverter {
	s.tcOnce.Do(func() {
		s.typeConverter = newTypedObjects(applyconfigurations.NewTypeConverter(s.codecs.scheme), s.codecs.scheme)
	})
	return s.typeConverter
}

// fieldManager returns the tracker for the main resource or, for
// "status", the status subresource: the main one ignores status and the
// status one ignores spec and metadata — upstream's "reset fields".
func (s *Server) fieldManager(r *resource, subresource string) (*managedfields.FieldManager, error) {
	fm := &r.managers
	fm.once.Do(func() {
		tc := s.converter()
		gv := r.gvk.GroupVersion()
		apiVersion := fieldpath.APIVersion(gv.String())
		var mainReset, statusReset map[fieldpath.APIVersion]fieldpath.Filter
		if r.def.HasStatus {
			mainReset = map[fieldpath.APIVersion]fieldpath.Filter{
				apiVersion: fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("status"))),
			}
			statusReset = map[fieldpath.APIVersion]fieldpath.Filter{
				apiVersion: fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("spec"), fieldpath.MakePathOrDie("metadata"))),
			}
		}
		if fm.main, fm.err = managedfields.NewDefaultFieldManager(tc, s.codecs.scheme, strategyDefaulter{r}, s.codecs.scheme, r.gvk, gv, "", mainReset); fm.err != nil {
			fm.err = fmt.Errorf("field manager for %s: %w", r.gvk, fm.err)
			return
		}
		if r.def.HasStatus {
			if fm.status, fm.err = managedfields.NewDefaultFieldManager(tc, s.codecs.scheme, strategyDefaulter{r}, s.codecs.scheme, r.gvk, gv, "status", statusReset); fm.err != nil {
				fm.err = fmt.Errorf("status field manager for %s: %w", r.gvk, fm.err)
			}
		}
	})
	if fm.err != nil {
		return nil, fm.err
	}
	if subresource == "status" && fm.status != nil {
		return fm.status, nil
	}
	return fm.main, nil
}

func (r *resource) newEmpty() runtime.Object {
	obj := r.def.New()
	obj.GetObjectKind().SetGroupVersionKind(r.gvk)
	return obj
}

// trackCreate records manager as the owner of every field it set.
func (s *Server) trackCreate(r *resource, obj runtime.Object, manager string) (runtime.Object, error) {
	if s.trackCreateDirect(r, obj, manager) {
		return obj, nil
	}
	return s.trackUpdate(r, "", r.newEmpty(), obj, manager)
}

// createStripped are the fields the field manager never records
// (upstream's stripMetaManager).
var createStripped = fieldpath.NewSet(
	fieldpath.MakePathOrDie("apiVersion"),
	fieldpath.MakePathOrDie("kind"),
	fieldpath.MakePathOrDie("metadata"),
	fieldpath.MakePathOrDie("metadata", "name"),
	fieldpath.MakePathOrDie("metadata", "namespace"),
	fieldpath.MakePathOrDie("metadata", "creationTimestamp"),
	fieldpath.MakePathOrDie("metadata", "selfLink"),
	fieldpath.MakePathOrDie("metadata", "uid"),
	fieldpath.MakePathOrDie("metadata", "clusterName"),
	fieldpath.MakePathOrDie("metadata", "generation"),
	fieldpath.MakePathOrDie("metadata", "managedFields"),
	fieldpath.MakePathOrDie("metadata", "resourceVersion"),
)

// trackCreateDirect is what the field manager's chain computes for a
// create whose request carries no managedFields, without the chain: the
// fields of obj that differ from an empty object (the empty object's
// typed form computed once per resource, not per request), less status
// and the stripped metadata, as one Update entry. It was 70% of a pod
// create's CPU through the chain. It reports false, having changed
// nothing, when the general path must decide.
func (s *Server) trackCreateDirect(r *resource, obj runtime.Object, manager string) bool {
	acc, err := meta.Accessor(obj)
	if err != nil || len(acc.GetManagedFields()) > 0 {
		return false
	}
	tc := s.converter()
	cf := &r.createFields
	cf.once.Do(func() {
		cf.empty, cf.err = tc.ObjectToTyped(r.newEmpty(), typed.AllowDuplicates)
	})
	if cf.err != nil {
		return false
	}
	obj.GetObjectKind().SetGroupVersionKind(r.gvk)
	created, err := tc.ObjectToTyped(obj, typed.AllowDuplicates)
	if err != nil {
		return false
	}
	cmp, err := cf.empty.Compare(created)
	if err != nil {
		return false
	}
	set := cmp.Modified.Union(cmp.Added)
	if r.def.HasStatus {
		set = set.RecursiveDifference(fieldpath.NewSet(fieldpath.MakePathOrDie("status")))
	}
	set = set.Difference(createStripped)
	if set.Empty() {
		return false
	}
	raw, err := set.ToJSON()
	if err != nil {
		return false
	}
	acc.SetManagedFields([]metav1.ManagedFieldsEntry{{
		Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: r.gvk.GroupVersion().String(),
		Time: &metav1.Time{Time: time.Now().UTC()}, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: raw},
	}})
	return true
}

// createFields is a resource's empty object in structured-merge-diff's
// typed form, what trackCreateDirect compares creates with.
type createFields struct {
	once  sync.Once
	empty *typed.TypedValue
	err   error
}

// trackUpdate records the fields manager changed between cur and obj.
// Tracking never fails a write: like upstream's UpdateNoErrors it drops
// managedFields it cannot compute.
func (s *Server) trackUpdate(r *resource, subresource string, cur, obj runtime.Object, manager string) (runtime.Object, error) {
	fm, err := s.fieldManager(r, subresource)
	if err != nil {
		return nil, err
	}
	cur.GetObjectKind().SetGroupVersionKind(r.gvk)
	obj.GetObjectKind().SetGroupVersionKind(r.gvk)
	out := fm.UpdateNoErrors(cur, obj, manager)
	out.GetObjectKind().SetGroupVersionKind(r.gvk)
	return out, nil
}

func schemaGV(group, version string) schema.GroupVersion {
	return schema.GroupVersion{Group: group, Version: version}
}
