// Package history is the ControllerRevision bookkeeping of the
// StatefulSet and DaemonSet controllers, as upstream's
// pkg/controller/history: a revision holds a patch that restores its
// owner's pod template, is named "<owner>-<hash>" and carries the hash in
// its controller-revision-hash label; the hash of the same data is the
// same, so an owner rolled back to an earlier template finds (and bumps)
// the earlier revision rather than creating a new one.
package history

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/internal/controller/ownerref"
)

// HashLabel is the label on revisions (and on the pods made from them)
// naming the revision.
const HashLabel = appsv1.ControllerRevisionHashLabelKey

// Hash is upstream's HashControllerRevision: FNV-32a of the revision's
// raw data, then of the collision count if any, safely encoded.
func Hash(data []byte, collisionCount *int32) string {
	h := fnv.New32a()
	h.Write(data)
	if collisionCount != nil {
		h.Write([]byte(strconv.FormatInt(int64(*collisionCount), 10)))
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// Name is the revision name for owner and hash, trimmed as upstream so
// that "<name>-<hash>" stays a valid label value.
func Name(owner, hash string) string {
	if len(owner) > 223 {
		owner = owner[:223]
	}
	return owner + "-" + hash
}

// New builds the revision number rev of owner holding data, labelled
// with templateLabels and the hash.
func New(owner metav1.Object, ref *metav1.OwnerReference, templateLabels map[string]string, data []byte, rev int64, collisionCount *int32) *appsv1.ControllerRevision {
	labels := make(map[string]string, len(templateLabels)+1)
	for k, v := range templateLabels {
		labels[k] = v
	}
	hash := Hash(data, collisionCount)
	labels[HashLabel] = hash
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name: Name(owner.GetName(), hash), Namespace: owner.GetNamespace(),
			Labels: labels, OwnerReferences: []metav1.OwnerReference{*ref},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: rev,
	}
}

// Equal reports whether two revisions hold the same data.
func Equal(a, b *appsv1.ControllerRevision) bool {
	return bytes.Equal(a.Data.Raw, b.Data.Raw)
}

// Sort orders revisions by revision number, then creation, then name:
// the last is the newest.
func Sort(revs []*appsv1.ControllerRevision) {
	sort.SliceStable(revs, func(i, j int) bool {
		a, b := revs[i], revs[j]
		if a.Revision != b.Revision {
			return a.Revision < b.Revision
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
}

// NextRevision is one more than the newest of sorted revs.
func NextRevision(sorted []*appsv1.ControllerRevision) int64 {
	if len(sorted) == 0 {
		return 1
	}
	return sorted[len(sorted)-1].Revision + 1
}

// Store writes revisions for one owner.
type Store struct {
	Client kubernetes.Interface
}

// Create creates rev; when a revision of that name already exists with
// other data (a hash collision) it bumps *collisionCount and retries
// with a new hash, as upstream. A revision of that name with the same
// data is returned as is.
func (s Store) Create(ctx context.Context, owner metav1.Object, ref *metav1.OwnerReference, templateLabels map[string]string, data []byte, rev int64, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	api := s.Client.AppsV1().ControllerRevisions(owner.GetNamespace())
	for {
		want := New(owner, ref, templateLabels, data, rev, collisionCount)
		got, err := api.Create(ctx, want, metav1.CreateOptions{})
		if err == nil {
			return got, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("create controllerrevision %s/%s: %w", want.Namespace, want.Name, err)
		}
		existing, gerr := api.Get(ctx, want.Name, metav1.GetOptions{})
		if gerr != nil {
			return nil, fmt.Errorf("get controllerrevision %s/%s: %w", want.Namespace, want.Name, gerr)
		}
		if metav1.IsControlledBy(existing, owner) && Equal(existing, want) {
			return existing, nil
		}
		*collisionCount++
	}
}

// Bump gives rev the revision number n (an old template came back).
func (s Store) Bump(ctx context.Context, rev *appsv1.ControllerRevision, n int64) (*appsv1.ControllerRevision, error) {
	if rev.Revision == n {
		return rev, nil
	}
	c := rev.DeepCopy()
	c.Revision = n
	out, err := s.Client.AppsV1().ControllerRevisions(c.Namespace).Update(ctx, c, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("update controllerrevision %s/%s: %w", c.Namespace, c.Name, err)
	}
	return out, nil
}

// Delete deletes rev; a revision already gone is no error.
func (s Store) Delete(ctx context.Context, rev *appsv1.ControllerRevision) error {
	err := s.Client.AppsV1().ControllerRevisions(rev.Namespace).Delete(ctx, rev.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete controllerrevision %s/%s: %w", rev.Namespace, rev.Name, err)
	}
	return nil
}

// Claimer returns a claimer of revisions for owner (adoption and release
// by patch, as pods).
func (s Store) Claimer(owner metav1.Object, gvk schema.GroupVersionKind, match func(metav1.Object) bool, canAdopt func(context.Context) error) *ownerref.Claimer {
	return &ownerref.Claimer{
		Controller: owner, GVK: gvk, Match: match, CanAdopt: canAdopt,
		Patch: func(ctx context.Context, ns, name string, patch []byte) error {
			_, err := s.Client.AppsV1().ControllerRevisions(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}
}
