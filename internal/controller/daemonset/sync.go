package daemonset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
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

// Reconcile syncs the DaemonSet named by key.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.sets.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Delete(key)
		return nil
	}
	if err != nil {
		return err
	}
	ds := cached.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || sel.Empty() {
		c.recorder.Eventf(ds, corev1.EventTypeWarning, "SelectingAll", "This daemon set is selecting all pods. A non-empty selector is required.")
		return nil
	}
	canAdopt := ownerref.RecheckDeletion(ds.UID, func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	})
	pods, err := c.claimPods(ctx, ds, sel, canAdopt)
	if err != nil {
		return err
	}
	if ds.DeletionTimestamp != nil {
		return nil
	}
	hash, err := c.syncRevisions(ctx, ds, sel, canAdopt, pods)
	if err != nil {
		return err
	}
	nodes, err := c.nodeStates(ds, pods)
	if err != nil {
		return err
	}
	now := c.now()
	var syncErr error
	if c.exp.Satisfied(key) {
		p := manage(ds, nodes, hash)
		if len(p.create) == 0 && len(p.delete) == 0 && ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
			p = rollingUpdate(ds, nodes, hash, now)
		}
		syncErr = c.apply(ctx, ds, p, hash)
	}
	st := computeStatus(ds, nodes, hash, now)
	if err := c.writeStatus(ctx, ds, st); err != nil {
		return err
	}
	if syncErr != nil {
		return syncErr
	}
	if ds.Spec.MinReadySeconds > 0 && st.NumberReady != st.NumberAvailable {
		c.loop.AddAfter(key, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	return nil
}

func (c *Controller) claimPods(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector, canAdopt func(context.Context) error) ([]*corev1.Pod, error) {
	objs, err := ownerref.Owned(c.pods, ds, true)
	if err != nil {
		return nil, err
	}
	cl := &ownerref.Claimer{
		Controller: ds, GVK: controllerKind, CanAdopt: canAdopt,
		Match: func(o metav1.Object) bool { return sel.Matches(labels.Set(o.GetLabels())) },
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

// nodeStates pairs every node with the DaemonSet's live pods there.
func (c *Controller) nodeStates(ds *appsv1.DaemonSet, pods []*corev1.Pod) ([]nodeState, error) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	byNode := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if n := targetNode(p); n != "" {
			byNode[n] = append(byNode[n], p)
		}
	}
	out := make([]nodeState, 0, len(nodes))
	for _, n := range nodes {
		run, keep := shouldRun(ds, n)
		ps := byNode[n.Name]
		byAge(ps)
		out = append(out, nodeState{name: n.Name, run: run, keep: keep, pods: ps})
	}
	return out, nil
}

// revisionPatch is the revision's data, as upstream's getPatch: the
// template replacing the DaemonSet's.
func revisionPatch(ds *appsv1.DaemonSet) ([]byte, error) {
	raw, err := json.Marshal(ds)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	spec, _ := obj["spec"].(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	if tmpl == nil {
		tmpl = map[string]any{}
	}
	tmpl["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": tmpl}})
}

// syncRevisions finds or creates the revision of the current template,
// deletes the oldest unused revisions beyond revisionHistoryLimit and
// returns the current hash.
func (c *Controller) syncRevisions(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector, canAdopt func(context.Context) error, pods []*corev1.Pod) (string, error) {
	objs, err := ownerref.Owned(c.revisions, ds, true)
	if err != nil {
		return "", err
	}
	cl := c.history.Claimer(ds, controllerKind, func(o metav1.Object) bool { return sel.Matches(labels.Set(o.GetLabels())) }, canAdopt)
	var revs []*appsv1.ControllerRevision
	for _, o := range objs {
		r := o.(*appsv1.ControllerRevision)
		if ok, err := cl.Claim(ctx, r); err != nil {
			return "", err
		} else if ok {
			revs = append(revs, r)
		}
	}
	history.Sort(revs)
	data, err := revisionPatch(ds)
	if err != nil {
		return "", fmt.Errorf("daemonset %s/%s revision: %w", ds.Namespace, ds.Name, err)
	}
	collisions := int32(0)
	if ds.Status.CollisionCount != nil {
		collisions = *ds.Status.CollisionCount
	}
	ref := ownerref.NewControllerRef(ds, controllerKind)
	next := history.NextRevision(revs)
	want := history.New(ds, ref, ds.Spec.Template.Labels, data, next, &collisions)
	var cur *appsv1.ControllerRevision
	for _, r := range revs {
		if history.Equal(r, want) {
			cur = r
		}
	}
	switch {
	case cur == nil:
		cur, err = c.history.Create(ctx, ds, ref, ds.Spec.Template.Labels, data, next, &collisions)
	case cur != revs[len(revs)-1]:
		cur, err = c.history.Bump(ctx, cur, next)
	}
	if err != nil {
		return "", err
	}
	if collisions != 0 || ds.Status.CollisionCount != nil {
		ds.Status.CollisionCount = &collisions
	}
	hash := cur.Labels[history.HashLabel]
	limit := 10
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = int(*ds.Spec.RevisionHistoryLimit)
	}
	live := map[string]bool{hash: true}
	for _, p := range pods {
		live[p.Labels[history.HashLabel]] = true
	}
	var old []*appsv1.ControllerRevision
	for _, r := range revs {
		if !live[r.Labels[history.HashLabel]] && r.Name != cur.Name {
			old = append(old, r)
		}
	}
	for i := 0; i < len(old)-limit; i++ {
		if err := c.history.Delete(ctx, old[i]); err != nil {
			return "", err
		}
	}
	return hash, nil
}

// apply carries out a plan: deletions first, then creations, at most
// BurstReplicas each, with expectations so the next sync waits for the
// informer to see them.
func (c *Controller) apply(ctx context.Context, ds *appsv1.DaemonSet, p plan, hash string) error {
	key := dsKey(ds)
	for _, f := range p.failed {
		c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDaemonPod", "Found failed daemon pod %s/%s on node %s, will try to kill it", f.Namespace, f.Name, targetNode(f))
	}
	del := p.delete[:min(len(p.delete), BurstReplicas)]
	create := p.create[:min(len(p.create), BurstReplicas)]
	keys := make([]string, len(del))
	for i, d := range del {
		keys[i] = ownerref.PodKey(d)
	}
	c.exp.ExpectDeletions(key, keys)
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, d := range del {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.client.CoreV1().Pods(d.Namespace).Delete(ctx, d.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &d.UID}})
			if err != nil {
				c.exp.DeletionObserved(key, ownerref.PodKey(d))
			}
			if err != nil && !apierrors.IsNotFound(err) {
				c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
				mu.Lock()
				errs = append(errs, fmt.Errorf("delete pod %s/%s: %w", d.Namespace, d.Name, err))
				mu.Unlock()
				return
			}
			if err == nil {
				c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", d.Name)
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 || len(create) == 0 {
		return errors.Join(errs...)
	}
	c.exp.ExpectCreations(key, len(create))
	for _, node := range create {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pod, err := c.client.CoreV1().Pods(ds.Namespace).Create(ctx, newPod(ds, node, hash), metav1.CreateOptions{})
			if err != nil {
				c.exp.CreationObserved(key)
				if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
					c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
				}
				mu.Lock()
				errs = append(errs, fmt.Errorf("create pod of daemonset %s on node %s: %w", key, node, err))
				mu.Unlock()
				return
			}
			c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", pod.Name)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *Controller) writeStatus(ctx context.Context, ds *appsv1.DaemonSet, st appsv1.DaemonSetStatus) error {
	if apiequality.Semantic.DeepEqual(ds.Status, st) {
		return nil
	}
	api := c.client.AppsV1().DaemonSets(ds.Namespace)
	for i := 0; ; i++ {
		ds.Status = st
		_, err := api.UpdateStatus(ctx, ds, metav1.UpdateOptions{})
		if err == nil {
			return nil
		}
		if i > 0 || !apierrors.IsConflict(err) {
			return fmt.Errorf("update status of daemonset %s/%s: %w", ds.Namespace, ds.Name, err)
		}
		fresh, gerr := api.Get(ctx, ds.Name, metav1.GetOptions{})
		if gerr != nil {
			return fmt.Errorf("get daemonset %s/%s: %w", ds.Namespace, ds.Name, gerr)
		}
		ds = fresh
	}
}
