package statefulset

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/internal/controller/history"
	"skiff.dev/skiff/internal/controller/ownerref"
)

// Reconcile syncs the StatefulSet named by key.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	set, err := c.sets.StatefulSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	set = set.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil || sel.Empty() {
		c.recorder.Eventf(set, corev1.EventTypeWarning, "InvalidSelector", "Empty selector is not allowed")
		return nil
	}
	canAdopt := ownerref.RecheckDeletion(set.UID, func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
	})
	revs, err := c.claimRevisions(ctx, set, sel, canAdopt)
	if err != nil {
		return err
	}
	pods, err := c.claimPods(ctx, set, sel, canAdopt)
	if err != nil {
		return err
	}
	current, update, err := c.currentAndUpdate(ctx, set, revs)
	if err != nil {
		return err
	}
	syncErr := error(nil)
	if set.DeletionTimestamp == nil {
		syncErr = c.syncPods(ctx, set, pods, current, update)
	}
	// Recount from the cache after the writes: upstream reports what it
	// has done in this sync through the pods it has in memory; the next
	// sync (queued by the pod events) corrects any difference.
	pods, _ = c.ownedPods(set)
	st := computeStatus(set, pods, current.Name, update.Name, c.now())
	if err := c.updateStatus(ctx, set, st); err != nil {
		return err
	}
	if syncErr != nil {
		return syncErr
	}
	if st.CurrentRevision == update.Name {
		if err := c.truncateHistory(ctx, set, revs, pods, current, update); err != nil {
			return err
		}
	}
	if set.Spec.MinReadySeconds > 0 && st.AvailableReplicas != st.ReadyReplicas {
		c.loop.AddAfter(key, time.Duration(set.Spec.MinReadySeconds)*time.Second)
	}
	return nil
}

func (c *Controller) ownedPods(set *appsv1.StatefulSet) ([]*corev1.Pod, error) {
	objs, err := ownerref.Owned(c.pods, set, false)
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*corev1.Pod))
	}
	return out, nil
}

func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, sel labels.Selector, canAdopt func(context.Context) error) ([]*corev1.Pod, error) {
	objs, err := ownerref.Owned(c.pods, set, true)
	if err != nil {
		return nil, err
	}
	cl := &ownerref.Claimer{
		Controller: set, GVK: controllerKind, CanAdopt: canAdopt,
		Match: func(o metav1.Object) bool {
			p := o.(*corev1.Pod)
			return sel.Matches(labels.Set(p.Labels)) && isMemberOf(set, p)
		},
		Patch: func(ctx context.Context, ns, name string, patch []byte) error {
			_, err := c.client.CoreV1().Pods(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}
	var out []*corev1.Pod
	var errs []error
	for _, o := range objs {
		p := o.(*corev1.Pod)
		ok, err := cl.Claim(ctx, p)
		if err != nil {
			errs = append(errs, err)
		} else if ok {
			out = append(out, p)
		}
	}
	return out, errors.Join(errs...)
}

func (c *Controller) claimRevisions(ctx context.Context, set *appsv1.StatefulSet, sel labels.Selector, canAdopt func(context.Context) error) ([]*appsv1.ControllerRevision, error) {
	objs, err := ownerref.Owned(c.revisions, set, true)
	if err != nil {
		return nil, err
	}
	cl := c.history.Claimer(set, controllerKind, func(o metav1.Object) bool { return sel.Matches(labels.Set(o.GetLabels())) }, canAdopt)
	var out []*appsv1.ControllerRevision
	var errs []error
	for _, o := range objs {
		r := o.(*appsv1.ControllerRevision)
		ok, err := cl.Claim(ctx, r)
		if err != nil {
			errs = append(errs, err)
		} else if ok {
			out = append(out, r)
		}
	}
	history.Sort(out)
	return out, errors.Join(errs...)
}

// currentAndUpdate finds or creates the update revision (the set's template
// now) and finds the current one, as upstream's getStatefulSetRevisions.
func (c *Controller) currentAndUpdate(ctx context.Context, set *appsv1.StatefulSet, revs []*appsv1.ControllerRevision) (current, update *appsv1.ControllerRevision, err error) {
	data, err := revisionPatch(set)
	if err != nil {
		return nil, nil, fmt.Errorf("statefulset %s/%s revision: %w", set.Namespace, set.Name, err)
	}
	collisions := int32(0)
	if set.Status.CollisionCount != nil {
		collisions = *set.Status.CollisionCount
	}
	want := history.New(set, newControllerRef(set), set.Spec.Template.Labels, data, history.NextRevision(revs), &collisions)
	var equal []*appsv1.ControllerRevision
	for _, r := range revs {
		if history.Equal(r, want) {
			equal = append(equal, r)
		}
	}
	switch {
	case len(equal) > 0 && equal[len(equal)-1] == revs[len(revs)-1]:
		update = revs[len(revs)-1] // the newest already holds the template
	case len(equal) > 0:
		// An earlier template came back (a rollback): renumber it newest.
		update, err = c.history.Bump(ctx, equal[len(equal)-1], want.Revision)
	default:
		update, err = c.history.Create(ctx, set, newControllerRef(set), set.Spec.Template.Labels, data, want.Revision, &collisions)
	}
	if err != nil {
		return nil, nil, err
	}
	if set.Status.CollisionCount == nil || *set.Status.CollisionCount != collisions {
		set.Status.CollisionCount = &collisions
	}
	for _, r := range revs {
		if r.Name == set.Status.CurrentRevision {
			current = r
		}
	}
	if current == nil {
		current = update
	}
	return current, update, nil
}

// syncPods is upstream's updateStatefulSet: create, heal and update the
// replicas in ordinal order, then delete the condemned in reverse order;
// with OrderedReady one step per sync and only while everything before
// it is healthy.
func (c *Controller) syncPods(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, currentRev, updateRev *appsv1.ControllerRevision) error {
	currentSet, err := fromRevision(set, currentRev)
	if err != nil {
		return err
	}
	updateSet, err := fromRevision(set, updateRev)
	if err != nil {
		return err
	}
	monotonic := set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
	start, n := startOrdinal(set), replicas(set)
	replicaPods := make([]*corev1.Pod, n)
	var condemned []*corev1.Pod
	for _, p := range pods {
		if o := ordinalOf(p); inRange(set, o) {
			replicaPods[o-start] = p
		} else if o >= 0 {
			condemned = append(condemned, p)
		}
	}
	// Which template a missing pod gets: the current one below the
	// partition (or below the current replicas without a rolling
	// update config), the update one otherwise, as upstream's
	// newVersionedStatefulSetPod.
	versioned := func(ord int) *corev1.Pod {
		if set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
			ru := set.Spec.UpdateStrategy.RollingUpdate
			if (ru == nil && ord < start+int(set.Status.CurrentReplicas)) ||
				(ru != nil && ru.Partition != nil && ord < start+int(*ru.Partition)) {
				return newPod(currentSet, ord, currentRev.Name)
			}
		}
		return newPod(updateSet, ord, updateRev.Name)
	}
	sort.Slice(condemned, func(i, j int) bool { return ordinalOf(condemned[i]) > ordinalOf(condemned[j]) })

	for i, p := range replicaPods {
		ord := start + i
		if p != nil && (isFailed(p) || isSucceeded(p)) && !isTerminating(p) {
			// A finished pod of a set is restarted by replacing it.
			if err := c.deletePod(ctx, set, p); err != nil {
				return err
			}
			if monotonic {
				return nil
			}
			continue
		}
		if p == nil {
			if err := c.createPod(ctx, set, versioned(ord)); err != nil {
				return err
			}
			if monotonic {
				return nil
			}
			continue
		}
		if isTerminating(p) && monotonic {
			c.log.Debug("waiting for pod to terminate", "statefulset", set.Name, "pod", p.Name)
			return nil
		}
		if !isCreated(p) && monotonic {
			return nil
		}
		if !isRunningAndAvailable(p, set.Spec.MinReadySeconds, c.now()) && monotonic && !isTerminating(p) {
			c.log.Debug("waiting for pod to be Running and Ready", "statefulset", set.Name, "pod", p.Name)
			return nil
		}
		if isTerminating(p) {
			continue
		}
		if err := c.ensureClaims(ctx, set, p, ord); err != nil {
			return err
		}
		if !identityMatches(set, p) || !storageMatches(set, p) {
			if err := c.updatePodIdentity(ctx, set, p, ord); err != nil {
				return err
			}
		}
	}
	if monotonic {
		for _, p := range replicaPods {
			if p == nil || !isHealthy(p) {
				return nil // scale down waits for every replica to be healthy
			}
		}
	}
	for i, p := range condemned {
		if isTerminating(p) {
			if monotonic {
				return nil
			}
			continue
		}
		// In order, only the first unhealthy condemned pod may go.
		if monotonic && !isHealthy(p) && i > 0 {
			return nil
		}
		if err := c.ensureClaims(ctx, set, p, ordinalOf(p)); err != nil {
			return err
		}
		if err := c.deletePod(ctx, set, p); err != nil {
			return err
		}
		if monotonic {
			return nil
		}
	}
	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return nil
	}
	partition := 0
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = int(*ru.Partition)
	}
	// Rolling update: from the highest ordinal down to the partition,
	// one pod at a time (maxUnavailable 1), each healthy before the next.
	for i := len(replicaPods) - 1; i >= partition-start && i >= 0; i-- {
		p := replicaPods[i]
		if p == nil {
			return nil
		}
		if podRevision(p) != updateRev.Name && !isTerminating(p) {
			c.log.Debug("terminating pod for update", "statefulset", set.Name, "pod", p.Name)
			return c.deletePod(ctx, set, p)
		}
		if !isHealthy(p) {
			return nil
		}
	}
	return nil
}

func (c *Controller) createPod(ctx context.Context, set *appsv1.StatefulSet, p *corev1.Pod) error {
	ord := ordinalOf(p)
	if err := c.createClaims(ctx, set, p, ord); err != nil {
		c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %s", p.Name, set.Name, err)
		return err
	}
	_, err := c.client.CoreV1().Pods(set.Namespace).Create(ctx, p, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil // the cache is behind; the pod event comes
	}
	if err != nil {
		c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %s", p.Name, set.Name, err)
		return fmt.Errorf("create pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Pod %s in StatefulSet %s successful", p.Name, set.Name)
	return nil
}

func (c *Controller) deletePod(ctx context.Context, set *appsv1.StatefulSet, p *corev1.Pod) error {
	err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedDelete", "delete Pod %s in StatefulSet %s failed error: %s", p.Name, set.Name, err)
		return fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful", p.Name, set.Name)
	return nil
}

func (c *Controller) updatePodIdentity(ctx context.Context, set *appsv1.StatefulSet, p *corev1.Pod, ord int) error {
	u := p.DeepCopy()
	setIdentity(set, u, ord)
	if !storageMatches(set, u) {
		// Volumes of a running pod are immutable: a pod with the wrong
		// claims is replaced.
		return c.deletePod(ctx, set, p)
	}
	_, err := c.client.CoreV1().Pods(u.Namespace).Update(ctx, u, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedUpdate", "update Pod %s in StatefulSet %s failed error: %s", p.Name, set.Name, err)
		return fmt.Errorf("update pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulUpdate", "update Pod %s in StatefulSet %s successful", p.Name, set.Name)
	return nil
}

// createClaims creates the pod's missing claims, with the owner
// references the retention policy asks for.
func (c *Controller) createClaims(ctx context.Context, set *appsv1.StatefulSet, p *corev1.Pod, ord int) error {
	for _, claim := range claims(set, ord) {
		_, err := c.pvcs.PersistentVolumeClaims(set.Namespace).Get(claim.Name)
		if err == nil {
			continue
		}
		if !apierrors.IsNotFound(err) {
			return err
		}
		// A pod not yet created has no UID: its reference (whenScaled)
		// is added when the pod is condemned.
		if toSet, _ := claimRefs(set, ord); toSet {
			claim.OwnerReferences = []metav1.OwnerReference{setRef(set)}
		}
		_, err = c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Create(ctx, claim, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Claim %s for Pod %s in StatefulSet %s failed error: %s", claim.Name, p.Name, set.Name, err)
			return fmt.Errorf("create claim %s/%s: %w", claim.Namespace, claim.Name, err)
		}
		if err == nil {
			c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Claim %s Pod %s in StatefulSet %s success", claim.Name, p.Name, set.Name)
		}
	}
	return nil
}

func setRef(set *appsv1.StatefulSet) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: set.Name, UID: set.UID}
}

func podRef(p *corev1.Pod) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: p.Name, UID: p.UID}
}

// ensureClaims creates missing claims of an existing pod and brings the
// owner references of its claims in line with the retention policy.
func (c *Controller) ensureClaims(ctx context.Context, set *appsv1.StatefulSet, p *corev1.Pod, ord int) error {
	if err := c.createClaims(ctx, set, p, ord); err != nil {
		return err
	}
	toSet, toPod := claimRefs(set, ord)
	for _, want := range claims(set, ord) {
		claim, err := c.pvcs.PersistentVolumeClaims(set.Namespace).Get(want.Name)
		if err != nil {
			continue // just created: the next sync sees it
		}
		refs := withRef(claim.OwnerReferences, setRef(set), toSet)
		refs = withRef(refs, podRef(p), toPod)
		if apiequality.Semantic.DeepEqual(refs, claim.OwnerReferences) {
			continue
		}
		u := claim.DeepCopy()
		u.OwnerReferences = refs
		if _, err := c.client.CoreV1().PersistentVolumeClaims(u.Namespace).Update(ctx, u, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("update owner references of claim %s/%s: %w", u.Namespace, u.Name, err)
		}
	}
	return nil
}

// withRef adds ref (by UID) if want, else removes references of the same
// kind and name.
func withRef(refs []metav1.OwnerReference, ref metav1.OwnerReference, want bool) []metav1.OwnerReference {
	var out []metav1.OwnerReference
	found := false
	for _, r := range refs {
		if r.Kind == ref.Kind && r.Name == ref.Name && r.APIVersion == ref.APIVersion {
			if want && r.UID == ref.UID {
				found = true
				out = append(out, r)
			}
			continue
		}
		out = append(out, r)
	}
	if want && !found {
		out = append(out, ref)
	}
	if len(out) == 0 && len(refs) == 0 {
		return refs
	}
	return out
}

func (c *Controller) updateStatus(ctx context.Context, set *appsv1.StatefulSet, st appsv1.StatefulSetStatus) error {
	st.Conditions = set.Status.Conditions
	if apiequality.Semantic.DeepEqual(set.Status, st) {
		return nil
	}
	api := c.client.AppsV1().StatefulSets(set.Namespace)
	for i := 0; ; i++ {
		set.Status = st
		_, err := api.UpdateStatus(ctx, set, metav1.UpdateOptions{})
		if err == nil {
			return nil
		}
		if i > 0 || !apierrors.IsConflict(err) {
			return fmt.Errorf("update status of statefulset %s/%s: %w", set.Namespace, set.Name, err)
		}
		fresh, gerr := api.Get(ctx, set.Name, metav1.GetOptions{})
		if gerr != nil {
			return fmt.Errorf("get statefulset %s/%s: %w", set.Namespace, set.Name, gerr)
		}
		set = fresh
	}
}

// truncateHistory deletes the oldest revisions no pod uses beyond
// revisionHistoryLimit (default 10), never current or update.
func (c *Controller) truncateHistory(ctx context.Context, set *appsv1.StatefulSet, revs []*appsv1.ControllerRevision, pods []*corev1.Pod, current, update *appsv1.ControllerRevision) error {
	limit := 10
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	live := map[string]bool{current.Name: true, update.Name: true}
	for _, p := range pods {
		live[podRevision(p)] = true
	}
	var old []*appsv1.ControllerRevision
	for _, r := range revs {
		if !live[r.Name] {
			old = append(old, r)
		}
	}
	for i := 0; i < len(old)-limit; i++ {
		if err := c.history.Delete(ctx, old[i]); err != nil {
			return err
		}
	}
	return nil
}
