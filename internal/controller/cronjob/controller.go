// Package cronjob is upstream's CronJob controller (controllerv2): at
// each start time of a CronJob's schedule (in spec.timeZone) it creates
// the Job "<cronjob>-<minutes since the epoch>", unless the start is
// later than startingDeadlineSeconds, the CronJob is suspended, or the
// concurrency policy forbids it (Forbid skips while one runs, Replace
// deletes the running ones first); it keeps status.active,
// lastScheduleTime and lastSuccessfulTime, and deletes finished Jobs
// beyond the history limits. Time comes from an injected clock.
package cronjob

import (
	"context"
	"log/slog"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/internal/controller/ownerref"
	"skiff.dev/skiff/internal/controller/reconcile"
)

var controllerKind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// Controller is the CronJob controller.
type Controller struct {
	client   kubernetes.Interface
	cronJobs batchlisters.CronJobLister
	jobs     cache.Indexer
	recorder record.EventRecorder
	loop     *reconcile.Loop
	log      *slog.Logger
	now      func() time.Time
	// created holds the UIDs of the Jobs this controller created (until
	// they are deleted), so that one it finds missing from a stale
	// status.active is not reported as unexpected.
	created sync.Map
}

// New builds the controller on a factory not yet started; now is its
// clock. recorder should have source component "cronjob-controller".
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, log *slog.Logger, now func() time.Time) (*Controller, error) {
	cjInf := factory.Batch().V1().CronJobs()
	jobInf := factory.Batch().V1().Jobs()
	if err := ownerref.AddControllerIndex(jobInf.Informer()); err != nil {
		return nil, err
	}
	c := &Controller{client: client, cronJobs: cjInf.Lister(), jobs: jobInf.Informer().GetIndexer(),
		recorder: recorder, log: log, now: now}
	c.loop = reconcile.NewLoop("cronjob", reconcile.ReconcileFunc(c.Reconcile), log)
	c.loop.WaitFor(cjInf.Informer().HasSynced, jobInf.Informer().HasSynced)
	if _, err := cjInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.loop.Enqueue,
		UpdateFunc: func(_, cur any) { c.loop.Enqueue(cur) },
		DeleteFunc: c.loop.Enqueue,
	}); err != nil {
		return nil, err
	}
	if _, err := jobInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.jobChanged,
		UpdateFunc: func(_, cur any) { c.jobChanged(cur) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if j, ok := obj.(*batchv1.Job); ok {
				c.created.Delete(j.UID)
			}
			c.jobChanged(obj)
		},
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Run reconciles with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

// jobChanged queues the CronJob that controls the Job.
func (c *Controller) jobChanged(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	j, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	ref := metav1.GetControllerOfNoCopy(j)
	if ref == nil || ref.Kind != controllerKind.Kind {
		return
	}
	if cj, err := c.cronJobs.CronJobs(j.Namespace).Get(ref.Name); err == nil && cj.UID == ref.UID {
		c.loop.Enqueue(cj)
	}
}
