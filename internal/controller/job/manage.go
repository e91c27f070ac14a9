package job

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/controller/ownerref"
)

// maxBatch caps the pods one sync creates or deletes (upstream's 500).
const maxBatch = 500

// manage creates and deletes pods toward the wanted active count; it
// returns how many it created and deleted.
func (c *Controller) manage(ctx context.Context, key string, j *batchv1.Job, s *jobState) (created, deleted int, err error) {
	want := wantActive(j, len(s.active), s.succeeded)
	var toDelete []*corev1.Pod
	var indexes []int // Indexed: which to create
	if isIndexed(j) {
		var keep []*corev1.Pod
		toDelete, keep = extraIndexedPods(j, s)
		toCreate := want - len(keep)
		if toCreate < 0 {
			deletionOrder(keep)
			toDelete = append(toDelete, keep[:-toCreate]...)
		}
		indexes = missingIndexes(j, s.completed, keep, toCreate)
	} else {
		if diff := len(s.active) - want; diff > 0 {
			active := append([]*corev1.Pod(nil), s.active...)
			deletionOrder(active)
			toDelete = active[:diff]
		}
		for i := len(s.active); i < want; i++ {
			indexes = append(indexes, -1)
		}
	}
	if len(toDelete) > 0 {
		deleted, err = c.deletePods(ctx, j, toDelete[:min(len(toDelete), maxBatch)])
		return 0, deleted, err
	}
	if len(indexes) == 0 {
		return 0, 0, nil
	}
	c.mu.Lock()
	rec := c.backoff[key]
	c.mu.Unlock()
	if wait := rec.remaining(c.now(), c.backoffBase, c.backoffMax); wait > 0 {
		c.loop.AddAfter(key, wait)
		return 0, 0, nil
	}
	indexes = indexes[:min(len(indexes), maxBatch)]
	c.exp.ExpectCreations(key, len(indexes))
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, ix := range indexes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.createPod(ctx, j, ix)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				c.exp.CreationObserved(key) // no event will come
				errs = append(errs, err)
				return
			}
			created++
		}()
	}
	wg.Wait()
	return created, 0, errors.Join(errs...)
}

// extraIndexedPods splits active pods of an Indexed Job into those to
// delete (no valid index, an index already completed, or a second pod of
// one index) and those to keep.
func extraIndexedPods(j *batchv1.Job, s *jobState) (extra, keep []*corev1.Pod) {
	completions := int(*j.Spec.Completions)
	seen := map[int]bool{}
	for _, p := range s.active {
		ix := completionIndex(p)
		_, done := s.completed[ix]
		if ix < 0 || ix >= completions || done || seen[ix] {
			extra = append(extra, p)
			continue
		}
		seen[ix] = true
		keep = append(keep, p)
	}
	return extra, keep
}

// missingIndexes are the n lowest indexes neither completed nor running.
func missingIndexes(j *batchv1.Job, completed indexSet, active []*corev1.Pod, n int) []int {
	running := map[int]bool{}
	for _, p := range active {
		running[completionIndex(p)] = true
	}
	var out []int
	for i := 0; i < int(*j.Spec.Completions) && len(out) < n; i++ {
		if _, done := completed[i]; !done && !running[i] {
			out = append(out, i)
		}
	}
	return out
}

// newPod is the Job's pod (for index ix if Indexed), as upstream: the
// template, the tracking finalizer, the controller reference and, for
// an index, its annotation and label, hostname and the
// JOB_COMPLETION_INDEX variable from the annotation.
func newPod(j *batchv1.Job, ix int) *corev1.Pod {
	t := j.Spec.Template.DeepCopy()
	p := &corev1.Pod{ObjectMeta: t.ObjectMeta, Spec: t.Spec}
	p.Name = ""
	p.Namespace = j.Namespace
	p.GenerateName = j.Name + "-"
	p.Finalizers = append(p.Finalizers, trackingFinalizer)
	p.OwnerReferences = []metav1.OwnerReference{*ownerref.NewControllerRef(j, controllerKind)}
	if ix >= 0 {
		s := strconv.Itoa(ix)
		p.GenerateName = fmt.Sprintf("%s-%d-", j.Name, ix)
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		if p.Labels == nil {
			p.Labels = map[string]string{}
		}
		p.Annotations[batchv1.JobCompletionIndexAnnotation] = s
		p.Labels[batchv1.JobCompletionIndexAnnotation] = s
		p.Spec.Hostname = fmt.Sprintf("%s-%d", j.Name, ix)
		env := corev1.EnvVar{Name: completionIndexEnv, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
			FieldPath: fmt.Sprintf("metadata.annotations['%s']", batchv1.JobCompletionIndexAnnotation)}}}
		for i := range p.Spec.InitContainers {
			p.Spec.InitContainers[i].Env = append(p.Spec.InitContainers[i].Env, env)
		}
		for i := range p.Spec.Containers {
			p.Spec.Containers[i].Env = append(p.Spec.Containers[i].Env, env)
		}
	}
	return p
}

func (c *Controller) createPod(ctx context.Context, j *batchv1.Job, ix int) error {
	p, err := c.client.CoreV1().Pods(j.Namespace).Create(ctx, newPod(j, ix), metav1.CreateOptions{})
	if err != nil {
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.recorder.Eventf(j, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		}
		return fmt.Errorf("create pod of job %s/%s: %w", j.Namespace, j.Name, err)
	}
	c.recorder.Eventf(j, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", p.Name)
	return nil
}

// deletePods deletes pods (they are counted failed once terminating),
// returning how many it deleted.
func (c *Controller) deletePods(ctx context.Context, j *batchv1.Job, pods []*corev1.Pod) (int, error) {
	if len(pods) == 0 {
		return 0, nil
	}
	key := jobKey(j)
	keys := make([]string, len(pods))
	for i, p := range pods {
		keys[i] = ownerref.PodKey(p)
	}
	c.exp.ExpectDeletions(key, keys)
	var errs []error
	n := 0
	for _, p := range pods {
		err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			c.exp.DeletionObserved(key, ownerref.PodKey(p))
			c.recorder.Eventf(j, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
			errs = append(errs, fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err))
			continue
		}
		if err != nil {
			c.exp.DeletionObserved(key, ownerref.PodKey(p))
		} else {
			c.recorder.Eventf(j, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", p.Name)
		}
		n++
	}
	return n, errors.Join(errs...)
}
