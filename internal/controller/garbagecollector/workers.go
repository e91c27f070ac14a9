package garbagecollector

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
)

func (c *Collector) deleteWorker(ctx context.Context) {
	for {
		ref, quit := c.toDelete.Get()
		if quit {
			return
		}
		if err := c.attemptToDelete(ctx, ref); err != nil && ctx.Err() == nil {
			c.log.Warn("garbage collection failed", "object", ref.Kind+" "+ref.Namespace+"/"+ref.Name, "uid", ref.UID, "err", err)
			c.toDelete.AddRateLimited(ref)
		} else {
			c.toDelete.Forget(ref)
		}
		c.toDelete.Done(ref)
	}
}

func (c *Collector) orphanWorker(ctx context.Context) {
	for {
		ref, quit := c.toOrphan.Get()
		if quit {
			return
		}
		if err := c.attemptToOrphan(ctx, ref); err != nil && ctx.Err() == nil {
			c.log.Warn("orphaning failed", "object", ref.Kind+" "+ref.Namespace+"/"+ref.Name, "err", err)
			c.toOrphan.AddRateLimited(ref)
		} else {
			c.toOrphan.Forget(ref)
		}
		c.toOrphan.Done(ref)
	}
}

// client returns the metadata client for the object ref names: its
// resource from the kind, in ref's namespace if the resource is
// namespaced.
func (c *Collector) client(ref objectRef) (metadata.ResourceInterface, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, err
	}
	m, err := c.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: ref.Kind}, gv.Version)
	if err != nil {
		return nil, fmt.Errorf("resource of %s %s: %w", ref.APIVersion, ref.Kind, err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.meta.Resource(m.Resource).Namespace(ref.Namespace), nil
	}
	return c.meta.Resource(m.Resource), nil
}

// get returns the live object, or nil if it does not exist (or another
// object with another UID took its name).
func (c *Collector) get(ctx context.Context, ref objectRef) (*metav1.PartialObjectMetadata, error) {
	cl, err := c.client(ref)
	if err != nil {
		return nil, err
	}
	obj, err := cl.Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if obj.UID != ref.UID {
		return nil, nil
	}
	return obj, nil
}

func (c *Collector) virtualDelete(ref objectRef) {
	c.changes.Add(&event{virtual: true, ref: ref})
}

// attemptToDelete decides the fate of one object: nothing (an owner
// stands), shed the references to owners that are gone, or delete it.
func (c *Collector) attemptToDelete(ctx context.Context, ref objectRef) error {
	v, ok := c.graph.view(ref.UID)
	if !ok {
		return nil
	}
	if v.beingDeleted && !v.deletingDependents {
		return nil // already going; nothing to add
	}
	latest, err := c.get(ctx, v.ref)
	if err != nil {
		return err
	}
	if latest == nil {
		c.virtualDelete(v.ref)
		return nil
	}
	if latest.DeletionTimestamp != nil && hasFinalizer(latest, metav1.FinalizerDeleteDependents) {
		return c.processDeletingDependents(ctx, v, latest)
	}
	if len(latest.OwnerReferences) == 0 {
		return nil
	}
	var solid, dangling, waiting []metav1.OwnerReference
	for _, o := range latest.OwnerReferences {
		owner, err := c.get(ctx, objectRef{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: latest.Namespace, Name: o.Name, UID: o.UID})
		switch {
		case err != nil:
			return err
		case owner == nil:
			dangling = append(dangling, o)
		case owner.DeletionTimestamp != nil && hasFinalizer(owner, metav1.FinalizerDeleteDependents):
			waiting = append(waiting, o)
		default:
			solid = append(solid, o)
		}
	}
	switch {
	case len(solid) > 0:
		if len(dangling) == 0 && len(waiting) == 0 {
			return nil
		}
		// Another owner keeps it alive; drop the references to the ones
		// that are gone or waiting on us (or they would wait forever).
		gone := map[types.UID]bool{}
		for _, o := range append(dangling, waiting...) {
			gone[o.UID] = true
		}
		return c.setOwnerReferences(ctx, v.ref, latest, func(o metav1.OwnerReference) *metav1.OwnerReference {
			if gone[o.UID] {
				return nil
			}
			return &o
		})
	case len(waiting) > 0 && len(v.dependents) > 0:
		// An owner deletes in the foreground and this object has
		// dependents of its own: delete it in the foreground too. A
		// dependent that is itself waiting for us would deadlock: unblock
		// its reference first.
		for _, d := range v.dependents {
			dv, ok := c.graph.view(d.UID)
			if !ok || !dv.deletingDependents {
				continue
			}
			dl, err := c.get(ctx, d)
			if err != nil || dl == nil {
				continue
			}
			if err := c.setOwnerReferences(ctx, d, dl, func(o metav1.OwnerReference) *metav1.OwnerReference {
				if o.UID == v.ref.UID {
					f := false
					o.BlockOwnerDeletion = &f
				}
				return &o
			}); err != nil {
				return err
			}
		}
		return c.deleteObject(ctx, v.ref, latest, metav1.DeletePropagationForeground)
	default:
		// Every owner is gone (or going in the foreground): delete, with
		// the propagation the object's own finalizers ask for.
		policy := metav1.DeletePropagationBackground
		switch {
		case hasFinalizer(latest, metav1.FinalizerOrphanDependents):
			policy = metav1.DeletePropagationOrphan
		case hasFinalizer(latest, metav1.FinalizerDeleteDependents):
			policy = metav1.DeletePropagationForeground
		}
		c.log.Debug("deleting object whose owners are gone", "object", v.ref.Kind+" "+v.ref.Namespace+"/"+v.ref.Name, "propagation", policy)
		return c.deleteObject(ctx, v.ref, latest, policy)
	}
}

// processDeletingDependents finishes a foreground deletion: with no
// blocking dependent left, remove the finalizer; otherwise make sure
// each blocking dependent is being collected.
func (c *Collector) processDeletingDependents(ctx context.Context, v nodeView, latest *metav1.PartialObjectMetadata) error {
	if len(v.blocking) == 0 {
		return c.removeFinalizer(ctx, v.ref, metav1.FinalizerDeleteDependents)
	}
	for _, d := range v.blocking {
		if dv, ok := c.graph.view(d.UID); ok && !dv.deletingDependents {
			c.toDelete.Add(d)
		}
	}
	return nil
}

// deleteObject deletes with a UID precondition. For Foreground it first
// adds the foregroundDeletion finalizer itself, which an API server
// honouring propagationPolicy would also do: the cascade then works
// against one that does not.
func (c *Collector) deleteObject(ctx context.Context, ref objectRef, latest *metav1.PartialObjectMetadata, policy metav1.DeletionPropagation) error {
	cl, err := c.client(ref)
	if err != nil {
		return err
	}
	if policy == metav1.DeletePropagationForeground && !hasFinalizer(latest, metav1.FinalizerDeleteDependents) {
		if err := c.patchFinalizers(ctx, cl, latest, append(slices.Clone(latest.Finalizers), metav1.FinalizerDeleteDependents)); err != nil {
			return err
		}
	}
	uid := ref.UID
	err = cl.Delete(ctx, ref.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &policy})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or replaced by another object of that name
	}
	if err != nil {
		return fmt.Errorf("delete %s %s/%s: %w", ref.Kind, ref.Namespace, ref.Name, err)
	}
	return nil
}

type metaPatch struct {
	Metadata struct {
		UID             types.UID               `json:"uid"`
		ResourceVersion string                  `json:"resourceVersion"`
		OwnerReferences []metav1.OwnerReference `json:"ownerReferences,omitempty"`
		Finalizers      *[]string               `json:"finalizers,omitempty"`
	} `json:"metadata"`
}

// setOwnerReferences rewrites the object's ownerReferences through f
// (nil drops one) with a JSON merge patch guarded by the object's UID and
// resourceVersion: a concurrent change makes it fail and retry.
func (c *Collector) setOwnerReferences(ctx context.Context, ref objectRef, latest *metav1.PartialObjectMetadata, f func(metav1.OwnerReference) *metav1.OwnerReference) error {
	cl, err := c.client(ref)
	if err != nil {
		return err
	}
	refs := []metav1.OwnerReference{}
	for _, o := range latest.OwnerReferences {
		if n := f(o); n != nil {
			refs = append(refs, *n)
		}
	}
	var p metaPatch
	p.Metadata.UID, p.Metadata.ResourceVersion = latest.UID, latest.ResourceVersion
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	// ownerReferences: [] must be sent to clear them; omitempty would drop it.
	var raw map[string]map[string]any
	_ = json.Unmarshal(body, &raw)
	raw["metadata"]["ownerReferences"] = refs
	body, _ = json.Marshal(raw)
	_, err = cl.Patch(ctx, ref.Name, types.MergePatchType, body, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("patch owner references of %s %s/%s: %w", ref.Kind, ref.Namespace, ref.Name, err)
	}
	return nil
}

func (c *Collector) patchFinalizers(ctx context.Context, cl metadata.ResourceInterface, latest *metav1.PartialObjectMetadata, finalizers []string) error {
	var p metaPatch
	p.Metadata.UID, p.Metadata.ResourceVersion = latest.UID, latest.ResourceVersion
	if finalizers == nil {
		finalizers = []string{}
	}
	p.Metadata.Finalizers = &finalizers
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = cl.Patch(ctx, latest.Name, types.MergePatchType, body, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("patch finalizers of %s/%s: %w", latest.Namespace, latest.Name, err)
	}
	return nil
}

func (c *Collector) removeFinalizer(ctx context.Context, ref objectRef, finalizer string) error {
	latest, err := c.get(ctx, ref)
	if err != nil || latest == nil || !hasFinalizer(latest, finalizer) {
		return err
	}
	cl, err := c.client(ref)
	if err != nil {
		return err
	}
	var rest []string
	for _, f := range latest.Finalizers {
		if f != finalizer {
			rest = append(rest, f)
		}
	}
	return c.patchFinalizers(ctx, cl, latest, rest)
}

// attemptToOrphan removes the references to an owner being deleted with
// the orphan finalizer from all its dependents, then the finalizer.
func (c *Collector) attemptToOrphan(ctx context.Context, ref objectRef) error {
	v, ok := c.graph.view(ref.UID)
	if !ok {
		return nil
	}
	for _, d := range v.dependents {
		dl, err := c.get(ctx, d)
		if err != nil {
			return err
		}
		if dl == nil {
			continue
		}
		if err := c.setOwnerReferences(ctx, d, dl, func(o metav1.OwnerReference) *metav1.OwnerReference {
			if o.UID == ref.UID {
				return nil
			}
			return &o
		}); err != nil {
			return err
		}
	}
	return c.removeFinalizer(ctx, v.ref, metav1.FinalizerOrphanDependents)
}
