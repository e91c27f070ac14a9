package apiserver

import (
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
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
	s.tcOnce.Do(func() { s.typeConverter = applyconfigurations.NewTypeConverter(s.codecs.scheme) })
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
	return s.trackUpdate(r, "", r.newEmpty(), obj, manager)
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
