package apiserver

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// strategyDefaulter adapts a resource's Strategy to runtime.ObjectDefaulter
// for the field manager (server-side apply defaults the merged object).
type strategyDefaulter struct{ r *resource }

func (d strategyDefaulter) Default(obj runtime.Object) { d.r.def.Strategy.Default(obj) }

// initFieldManagers builds the managedFields trackers of a resource: one
// for the main resource, which ignores status, and one for /status, which
// ignores spec — upstream's "reset fields".
func (s *Server) initFieldManagers(r *resource) error {
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
	fm, err := managedfields.NewDefaultFieldManager(s.typeConverter, s.codecs.scheme, strategyDefaulter{r}, s.codecs.scheme, r.gvk, gv, "", mainReset)
	if err != nil {
		return fmt.Errorf("field manager for %s: %w", r.gvk, err)
	}
	r.fieldManager = fm
	if r.def.HasStatus {
		sfm, err := managedfields.NewDefaultFieldManager(s.typeConverter, s.codecs.scheme, strategyDefaulter{r}, s.codecs.scheme, r.gvk, gv, "status", statusReset)
		if err != nil {
			return fmt.Errorf("status field manager for %s: %w", r.gvk, err)
		}
		r.statusFieldManager = sfm
	}
	return nil
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
	fm := r.fieldManager
	if subresource == "status" && r.statusFieldManager != nil {
		fm = r.statusFieldManager
	}
	if fm == nil {
		return obj, nil
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
