// Package ownerref is how controllers claim the objects they manage, as
// upstream's ControllerRefManager does: an object belongs to the
// controller its controller ownerReference (controller=true) names; a
// controller adopts matching orphans by patching such a reference in
// (blockOwnerDeletion=true, so foreground deletion of the owner waits for
// it) and releases the objects it owns that stopped matching its selector
// by patching the reference out. The patches carry the object's UID, so
// a patch meant for an object cannot land on a namesake that replaced it.
package ownerref

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// NewControllerRef is the reference a controller puts on what it creates:
// controller=true and blockOwnerDeletion=true, as upstream.
func NewControllerRef(owner metav1.Object, gvk schema.GroupVersionKind) *metav1.OwnerReference {
	t := true
	return &metav1.OwnerReference{
		APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind,
		Name: owner.GetName(), UID: owner.GetUID(),
		Controller: &t, BlockOwnerDeletion: &t,
	}
}

// AdoptPatch is the strategic merge patch that makes owner the controller
// of the object with UID uid (ownerReferences merge on uid).
func AdoptPatch(owner metav1.Object, gvk schema.GroupVersionKind, uid types.UID) []byte {
	p := map[string]any{"metadata": map[string]any{
		"uid":             uid,
		"ownerReferences": []metav1.OwnerReference{*NewControllerRef(owner, gvk)},
	}}
	b, _ := json.Marshal(p)
	return b
}

// ReleasePatch is the strategic merge patch that removes the references to
// ownerUIDs from the object with UID uid.
func ReleasePatch(uid types.UID, ownerUIDs ...types.UID) []byte {
	refs := make([]map[string]string, 0, len(ownerUIDs))
	for _, o := range ownerUIDs {
		refs = append(refs, map[string]string{"$patch": "delete", "uid": string(o)})
	}
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"uid": uid, "ownerReferences": refs}})
	return b
}

// Patcher applies a strategic merge patch to one object of the kind being
// claimed.
type Patcher func(ctx context.Context, namespace, name string, patch []byte) error

// Claimer decides, object by object, what a controller owns.
type Claimer struct {
	// Controller is the claiming object; GVK its kind.
	Controller metav1.Object
	GVK        schema.GroupVersionKind
	// Match reports whether obj is selected by the controller.
	Match func(obj metav1.Object) bool
	Patch Patcher
	// CanAdopt is asked once, before the first adoption: upstream re-reads
	// the controller from the API server (not the cache) so that a
	// controller being deleted adopts nothing.
	CanAdopt func(ctx context.Context) error

	canAdopt *error
}

// Claim returns whether the controller owns obj after adopting or
// releasing it as needed. A NotFound patch means the object is gone: not
// owned, no error.
func (c *Claimer) Claim(ctx context.Context, obj metav1.Object) (bool, error) {
	ref := metav1.GetControllerOfNoCopy(obj)
	if ref != nil {
		if ref.UID != c.Controller.GetUID() {
			return false, nil // someone else's
		}
		if c.Match(obj) {
			return true, nil
		}
		// Ours but no longer selected: release it, unless we are being
		// deleted (the garbage collector handles our dependents then).
		if c.Controller.GetDeletionTimestamp() != nil {
			return false, nil
		}
		err := c.Patch(ctx, obj.GetNamespace(), obj.GetName(), ReleasePatch(obj.GetUID(), c.Controller.GetUID()))
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
			return false, fmt.Errorf("release %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
		}
		return false, nil
	}
	// An orphan: adopt it if it matches and neither side is going away.
	if c.Controller.GetDeletionTimestamp() != nil || !c.Match(obj) || obj.GetDeletionTimestamp() != nil {
		return false, nil
	}
	if ns := c.Controller.GetNamespace(); ns != "" && ns != obj.GetNamespace() {
		return false, nil
	}
	if c.canAdopt == nil {
		var err error
		if c.CanAdopt != nil {
			err = c.CanAdopt(ctx)
		}
		c.canAdopt = &err
	}
	if *c.canAdopt != nil {
		return false, fmt.Errorf("can't adopt %s/%s (%s): %w", obj.GetNamespace(), obj.GetName(), obj.GetUID(), *c.canAdopt)
	}
	err := c.Patch(ctx, obj.GetNamespace(), obj.GetName(), AdoptPatch(c.Controller, c.GVK, obj.GetUID()))
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("adopt %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return true, nil
}

// RecheckDeletion is a CanAdopt that fetches the controller afresh and
// refuses adoption if it is gone, replaced (another UID) or being
// deleted.
func RecheckDeletion(uid types.UID, get func(ctx context.Context) (metav1.Object, error)) func(context.Context) error {
	return func(ctx context.Context) error {
		fresh, err := get(ctx)
		if err != nil {
			return fmt.Errorf("can't recheck DeletionTimestamp: %w", err)
		}
		if fresh.GetUID() != uid {
			return fmt.Errorf("original %s/%s is gone: got uid %s, wanted %s", fresh.GetNamespace(), fresh.GetName(), fresh.GetUID(), uid)
		}
		if fresh.GetDeletionTimestamp() != nil {
			return fmt.Errorf("%s/%s has just been deleted at %v", fresh.GetNamespace(), fresh.GetName(), fresh.GetDeletionTimestamp())
		}
		return nil
	}
}

// ControllerIndex names the informer index of objects by their
// controller: "namespace/controllerUID" for owned objects and
// "namespace" for orphans.
const ControllerIndex = "skiff.dev/controller"

// AddControllerIndex adds ControllerIndex to an informer, once: several
// controllers share one informer, and the index must exist before the
// informer starts.
func AddControllerIndex(inf cache.SharedIndexInformer) error {
	if _, ok := inf.GetIndexer().GetIndexers()[ControllerIndex]; ok {
		return nil
	}
	err := inf.AddIndexers(cache.Indexers{ControllerIndex: func(obj any) ([]string, error) {
		m, ok := obj.(metav1.Object)
		if !ok {
			return nil, nil
		}
		if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
			return []string{m.GetNamespace() + "/" + string(ref.UID)}, nil
		}
		return []string{m.GetNamespace()}, nil
	}})
	if err != nil {
		return fmt.Errorf("add controller index: %w", err)
	}
	return nil
}

// Owned lists from an informer with ControllerIndex what owner controls
// and, if withOrphans, the orphans of its namespace.
func Owned(idx cache.Indexer, owner metav1.Object, withOrphans bool) ([]any, error) {
	out, err := idx.ByIndex(ControllerIndex, owner.GetNamespace()+"/"+string(owner.GetUID()))
	if err != nil {
		return nil, err
	}
	if withOrphans {
		orphans, err := idx.ByIndex(ControllerIndex, owner.GetNamespace())
		if err != nil {
			return nil, err
		}
		out = append(out, orphans...)
	}
	return out, nil
}

// PodKey is the expectations key of a pod.
func PodKey(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }
