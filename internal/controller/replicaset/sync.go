package replicaset

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/internal/controller/ownerref"
)

// Event reasons, as upstream's pod control records them.
const (
	reasonSuccessfulCreate = "SuccessfulCreate"
	reasonFailedCreate     = "FailedCreate"
	reasonSuccessfulDelete = "SuccessfulDelete"
	reasonFailedDelete     = "FailedDelete"
)

// statusUpdateRetries is how many times a conflicting status write is
// retried on a fresh read before the key goes back on the queue.
const statusUpdateRetries = 1

// Reconcile syncs the ReplicaSet named by key.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	rs, err := c.rsLister.ReplicaSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	needsSync := c.exp.Satisfied(key)
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		c.log.Warn("invalid selector", "replicaset", key, "err", err)
		return nil
	}
	objs, err := ownerref.Owned(c.pods, rs, true)
	if err != nil {
		return err
	}
	var active, terminating []*corev1.Pod
	for _, o := range objs {
		p := o.(*corev1.Pod)
		switch {
		case isPodActive(p):
			active = append(active, p)
		case isPodTerminating(p) && metav1.IsControlledBy(p, rs) && selector.Matches(labels.Set(p.Labels)):
			terminating = append(terminating, p)
		}
	}
	active, err = c.claim(ctx, rs, selector, active)
	if err != nil {
		return err
	}
	var manageErr error
	if needsSync && rs.DeletionTimestamp == nil {
		manageErr = c.manageReplicas(ctx, active, rs)
	}
	now := c.now()
	status := calculateStatus(rs, active, terminating, manageErr, now)
	updated, err := c.updateStatus(ctx, rs.DeepCopy(), status)
	if err != nil {
		return err
	}
	if manageErr != nil {
		return manageErr
	}
	// Availability changes with time alone: come back when the next
	// ready pod has been ready for minReadySeconds.
	if updated.Spec.MinReadySeconds > 0 && updated.Status.ReadyReplicas != updated.Status.AvailableReplicas {
		after := time.Duration(updated.Spec.MinReadySeconds) * time.Second
		if d, ok := nextAvailabilityCheck(active, updated.Spec.MinReadySeconds, c.now()); ok {
			after = d
		}
		c.loop.AddAfter(key, after)
	}
	return nil
}

func (c *Controller) claim(ctx context.Context, rs *appsv1.ReplicaSet, sel labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	cl := &ownerref.Claimer{
		Controller: rs, GVK: controllerKind,
		Match: func(o metav1.Object) bool { return sel.Matches(labels.Set(o.GetLabels())) },
		Patch: func(ctx context.Context, ns, name string, patch []byte) error {
			_, err := c.client.CoreV1().Pods(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
		CanAdopt: ownerref.RecheckDeletion(rs.UID, func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().ReplicaSets(rs.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
		}),
	}
	var claimed []*corev1.Pod
	var errs []error
	for _, p := range pods {
		ok, err := cl.Claim(ctx, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			claimed = append(claimed, p)
		}
	}
	return claimed, errors.Join(errs...)
}

// manageReplicas creates or deletes pods to close the gap between the
// active pods and spec.replicas, at most burst at a time.
func (c *Controller) manageReplicas(ctx context.Context, active []*corev1.Pod, rs *appsv1.ReplicaSet) error {
	k := key(rs)
	diff := len(active) - int(*rs.Spec.Replicas)
	switch {
	case diff < 0:
		n := min(-diff, c.burst)
		c.exp.ExpectCreations(k, n)
		c.log.Debug("too few replicas", "replicaset", k, "need", *rs.Spec.Replicas, "creating", n)
		ref := ownerref.NewControllerRef(rs, controllerKind)
		created, err := slowStartBatch(n, 1, func() error {
			err := c.createPod(ctx, rs, ref)
			if err != nil && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil // nothing can be created there any more
			}
			return err
		})
		// Pods never attempted (or failed) will never be observed.
		for i := created; i < n; i++ {
			c.exp.CreationObserved(k)
		}
		return err
	case diff > 0:
		n := min(diff, c.burst)
		c.log.Debug("too many replicas", "replicaset", k, "need", *rs.Spec.Replicas, "deleting", n)
		victims := podsToDelete(active, c.relatedPods(rs), n, c.now())
		keys := make([]string, len(victims))
		for i, p := range victims {
			keys[i] = ownerref.PodKey(p)
		}
		c.exp.ExpectDeletions(k, keys)
		errCh := make(chan error, n)
		var wg sync.WaitGroup
		for _, p := range victims {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.deletePodOf(ctx, rs, p); err != nil {
					c.exp.DeletionObserved(k, ownerref.PodKey(p))
					if !apierrors.IsNotFound(err) {
						errCh <- err
					}
				}
			}()
		}
		wg.Wait()
		select {
		case err := <-errCh:
			return err
		default:
		}
	}
	return nil
}

// relatedPods are the pods of every ReplicaSet sharing rs's controller
// (or rs's own if it has none), for ranking deletions by co-location.
func (c *Controller) relatedPods(rs *appsv1.ReplicaSet) []*corev1.Pod {
	sets := []*appsv1.ReplicaSet{rs}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if objs, err := c.rsIndex.ByIndex(ownerref.ControllerIndex, rs.Namespace+"/"+string(ref.UID)); err == nil {
			sets = sets[:0]
			for _, o := range objs {
				sets = append(sets, o.(*appsv1.ReplicaSet))
			}
		}
	}
	seen := map[types.UID]bool{}
	var out []*corev1.Pod
	for _, s := range sets {
		objs, err := ownerref.Owned(c.pods, s, false)
		if err != nil {
			continue
		}
		for _, o := range objs {
			p := o.(*corev1.Pod)
			if !seen[p.UID] {
				seen[p.UID] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// podFromTemplate is the pod a ReplicaSet creates: the template's labels,
// annotations, finalizers and spec, a generated name prefixed with the
// ReplicaSet's, and the controller reference.
func podFromTemplate(rs *appsv1.ReplicaSet, ref *metav1.OwnerReference) *corev1.Pod {
	t := &rs.Spec.Template
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    generateNamePrefix(rs.Name),
			Labels:          copyMap(t.Labels),
			Annotations:     copyMap(t.Annotations),
			Finalizers:      append([]string{}, t.Finalizers...),
			OwnerReferences: []metav1.OwnerReference{*ref},
		},
		Spec: *t.Spec.DeepCopy(),
	}
	return p
}

// generateNamePrefix: "name-" when that makes a valid prefix, else name.
func generateNamePrefix(name string) string {
	prefix := name + "-"
	// As upstream's ValidatePodName(prefix, true): the generated suffix
	// replaces the trailing dash's position.
	if len(validation.IsDNS1123Subdomain(name+"a")) != 0 {
		return name
	}
	return prefix
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (c *Controller) createPod(ctx context.Context, rs *appsv1.ReplicaSet, ref *metav1.OwnerReference) error {
	if len(rs.Spec.Template.Labels) == 0 {
		return errors.New("unable to create pods, no labels")
	}
	p, err := c.client.CoreV1().Pods(rs.Namespace).Create(ctx, podFromTemplate(rs, ref), metav1.CreateOptions{})
	if err != nil {
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.recorder.Eventf(rs, corev1.EventTypeWarning, reasonFailedCreate, "Error creating: %v", err)
		}
		return err
	}
	c.recorder.Eventf(rs, corev1.EventTypeNormal, reasonSuccessfulCreate, "Created pod: %v", p.Name)
	return nil
}

func (c *Controller) deletePodOf(ctx context.Context, rs *appsv1.ReplicaSet, p *corev1.Pod) error {
	err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return err
	}
	if err != nil {
		c.recorder.Eventf(rs, corev1.EventTypeWarning, reasonFailedDelete, "Error deleting: %v", err)
		return fmt.Errorf("unable to delete pods: %w", err)
	}
	c.recorder.Eventf(rs, corev1.EventTypeNormal, reasonSuccessfulDelete, "Deleted pod: %v", p.Name)
	return nil
}

// slowStartBatch calls fn count times, in concurrent batches of 1, 2, 4,
// ... (starting at initial), stopping after the first batch with a
// failure: a quota or admission error costs a handful of calls, not
// hundreds. It returns the number of successful calls.
func slowStartBatch(count, initial int, fn func() error) (int, error) {
	remaining, successes := count, 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		errCh := make(chan error, batch)
		var wg sync.WaitGroup
		for i := 0; i < batch; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := fn(); err != nil {
					errCh <- err
				}
			}()
		}
		wg.Wait()
		successes += batch - len(errCh)
		if len(errCh) > 0 {
			return successes, <-errCh
		}
		remaining -= batch
	}
	return successes, nil
}

// calculateStatus is the status the ReplicaSet should report.
func calculateStatus(rs *appsv1.ReplicaSet, active, terminating []*corev1.Pod, manageErr error, now time.Time) appsv1.ReplicaSetStatus {
	st := rs.Status
	var fully, ready, available int32
	tmpl := labels.SelectorFromSet(rs.Spec.Template.Labels)
	for _, p := range active {
		if tmpl.Matches(labels.Set(p.Labels)) {
			fully++
		}
		if IsPodReady(p) {
			ready++
			if IsPodAvailable(p, rs.Spec.MinReadySeconds, now) {
				available++
			}
		}
	}
	failure := condition(rs.Status, appsv1.ReplicaSetReplicaFailure)
	switch {
	case manageErr != nil && failure == nil:
		reason := ""
		if diff := len(active) - int(*rs.Spec.Replicas); diff < 0 {
			reason = "FailedCreate"
		} else if diff > 0 {
			reason = "FailedDelete"
		}
		st.Conditions = append(withoutCondition(st.Conditions, appsv1.ReplicaSetReplicaFailure), appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now), Reason: reason, Message: manageErr.Error(),
		})
	case manageErr == nil && failure != nil:
		st.Conditions = withoutCondition(st.Conditions, appsv1.ReplicaSetReplicaFailure)
	}
	st.Replicas = int32(len(active))
	st.FullyLabeledReplicas = fully
	st.ReadyReplicas = ready
	st.AvailableReplicas = available
	n := int32(len(terminating))
	st.TerminatingReplicas = &n
	return st
}

func condition(st appsv1.ReplicaSetStatus, t appsv1.ReplicaSetConditionType) *appsv1.ReplicaSetCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

func withoutCondition(in []appsv1.ReplicaSetCondition, t appsv1.ReplicaSetConditionType) []appsv1.ReplicaSetCondition {
	var out []appsv1.ReplicaSetCondition
	for _, c := range in {
		if c.Type != t {
			out = append(out, c)
		}
	}
	return out
}

func statusEqual(a, b appsv1.ReplicaSetStatus) bool {
	ta, tb := int32(-1), int32(-1)
	if a.TerminatingReplicas != nil {
		ta = *a.TerminatingReplicas
	}
	if b.TerminatingReplicas != nil {
		tb = *b.TerminatingReplicas
	}
	if len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i := range a.Conditions {
		if a.Conditions[i] != b.Conditions[i] {
			return false
		}
	}
	return a.Replicas == b.Replicas && a.FullyLabeledReplicas == b.FullyLabeledReplicas &&
		a.ReadyReplicas == b.ReadyReplicas && a.AvailableReplicas == b.AvailableReplicas && ta == tb
}

// updateStatus writes status (with observedGeneration) unless nothing
// changed.
func (c *Controller) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, st appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
	if statusEqual(rs.Status, st) && rs.Generation == rs.Status.ObservedGeneration {
		return rs, nil
	}
	st.ObservedGeneration = rs.Generation
	api := c.client.AppsV1().ReplicaSets(rs.Namespace)
	for i := 0; ; i++ {
		rs.Status = st
		out, err := api.UpdateStatus(ctx, rs, metav1.UpdateOptions{})
		if err == nil {
			return out, nil
		}
		if i >= statusUpdateRetries {
			return nil, fmt.Errorf("update status of replicaset %s/%s: %w", rs.Namespace, rs.Name, err)
		}
		fresh, gerr := api.Get(ctx, rs.Name, metav1.GetOptions{})
		if gerr != nil {
			return nil, fmt.Errorf("get replicaset %s/%s: %w", rs.Namespace, rs.Name, gerr)
		}
		rs = fresh // st keeps the generation this sync acted on
	}
}
