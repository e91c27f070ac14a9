// Package ttlafterfinished is upstream's TTL-after-finished controller:
// it deletes a Job spec.ttlSecondsAfterFinished after it got its
// Complete or Failed condition, with foreground propagation so its pods
// go first.
package ttlafterfinished

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/internal/controller/reconcile"
)

// Controller is the TTL-after-finished controller.
type Controller struct {
	client kubernetes.Interface
	jobs   batchlisters.JobLister
	loop   *reconcile.Loop
	now    func() time.Time
}

// New builds the controller on a factory not yet started; now is its
// clock (time.Now in production).
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger, now func() time.Time) (*Controller, error) {
	inf := factory.Batch().V1().Jobs()
	c := &Controller{client: client, jobs: inf.Lister(), now: now}
	c.loop = reconcile.NewLoop("ttl_jobs_to_delete", reconcile.ReconcileFunc(c.Reconcile), log)
	c.loop.WaitFor(inf.Informer().HasSynced)
	enqueue := func(obj any) {
		if j, ok := obj.(*batchv1.Job); ok && j.DeletionTimestamp == nil && j.Spec.TTLSecondsAfterFinished != nil {
			if done, _ := finished(j); done {
				c.loop.Enqueue(j)
			}
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, cur any) { enqueue(cur) },
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Run reconciles with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

func finished(j *batchv1.Job) (bool, time.Time) {
	for _, cond := range j.Status.Conditions {
		if (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) && cond.Status == corev1.ConditionTrue {
			return true, cond.LastTransitionTime.Time
		}
	}
	return false, time.Time{}
}

// expiresIn is how long until j's TTL runs out (<= 0: expired), or false
// if it has none yet.
func expiresIn(j *batchv1.Job, now time.Time) (time.Duration, bool) {
	if j.DeletionTimestamp != nil || j.Spec.TTLSecondsAfterFinished == nil {
		return 0, false
	}
	done, at := finished(j)
	if !done || at.IsZero() {
		return 0, false
	}
	return at.Add(time.Duration(*j.Spec.TTLSecondsAfterFinished) * time.Second).Sub(now), true
}

// Reconcile deletes the Job named by key if its TTL ran out, checking a
// fresh copy first (the TTL may just have been changed), else requeues
// it for the moment it will.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	j, err := c.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	left, ok := expiresIn(j, c.now())
	if !ok {
		return nil
	}
	if left > 0 {
		c.loop.AddAfter(key, left)
		return nil
	}
	fresh, err := c.client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get job %s: %w", key, err)
	}
	if left, ok := expiresIn(fresh, c.now()); !ok || left > 0 {
		if ok {
			c.loop.AddAfter(key, left)
		}
		return nil
	}
	fg := metav1.DeletePropagationForeground
	err = c.client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{
		PropagationPolicy: &fg, Preconditions: &metav1.Preconditions{UID: &fresh.UID, ResourceVersion: &fresh.ResourceVersion}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete job %s: %w", key, err)
	}
	return nil
}
