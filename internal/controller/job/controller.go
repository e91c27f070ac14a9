// Package job is the Job controller: it runs a Job's pods to
// spec.completions successes (NonIndexed, or one per index with
// completionMode Indexed) at most spec.parallelism at a time, recreates
// failed pods with upstream's exponential back-off until
// spec.backoffLimit, stops at spec.activeDeadlineSeconds, and reports
// status and conditions as upstream 1.37: pods carry the
// batch.kubernetes.io/job-tracking finalizer until the controller has
// recorded them (status.uncountedTerminatedPods first, then the
// succeeded/failed counters), and a finishing Job gets the interim
// SuccessCriteriaMet or FailureTarget condition before Complete or
// Failed, which come once no pod of it is left running.
package job

import (
	"context"
	"log/slog"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/internal/controller/ownerref"
	"skiff.dev/skiff/internal/controller/reconcile"
)

// Upstream's pod failure back-off: 10 s doubling per failure since the
// last success, at most 10 minutes.
const (
	DefaultPodFailureBackoff = 10 * time.Second
	MaxPodFailureBackoff     = 10 * time.Minute
)

// trackingFinalizer keeps a finished pod around until the controller has
// counted it.
const trackingFinalizer = batchv1.JobTrackingFinalizer

var controllerKind = batchv1.SchemeGroupVersion.WithKind("Job")

// Option configures a Controller.
type Option func(*Controller)

// WithClock sets the controller's clock (tests).
func WithClock(now func() time.Time) Option { return func(c *Controller) { c.now = now } }

// WithPodFailureBackoff sets the back-off base and cap (tests).
func WithPodFailureBackoff(base, max time.Duration) Option {
	return func(c *Controller) { c.backoffBase, c.backoffMax = base, max }
}

// Controller is the Job controller.
type Controller struct {
	client   kubernetes.Interface
	jobs     batchlisters.JobLister
	pods     cache.Indexer
	recorder record.EventRecorder
	loop     *reconcile.Loop
	log      *slog.Logger
	now      func() time.Time
	exp      *reconcile.Expectations

	backoffBase, backoffMax time.Duration

	mu sync.Mutex
	// removing holds the UIDs of pods whose finalizer this controller
	// removed and has counted, until the informer shows the removal:
	// a stale cache must not make it count them twice.
	removing map[types.UID]struct{}
	// backoff is each Job's failures since its last success.
	backoff map[string]backoffRecord
}

// New builds the controller on a factory not yet started. recorder
// should have source component "job-controller".
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, log *slog.Logger, opts ...Option) (*Controller, error) {
	jobInf := factory.Batch().V1().Jobs()
	podInf := factory.Core().V1().Pods()
	if err := ownerref.AddControllerIndex(podInf.Informer()); err != nil {
		return nil, err
	}
	c := &Controller{
		client: client, jobs: jobInf.Lister(), pods: podInf.Informer().GetIndexer(),
		recorder: recorder, log: log, now: time.Now, exp: reconcile.NewExpectations(),
		backoffBase: DefaultPodFailureBackoff, backoffMax: MaxPodFailureBackoff,
		removing: map[types.UID]struct{}{}, backoff: map[string]backoffRecord{},
	}
	for _, o := range opts {
		o(c)
	}
	c.loop = reconcile.NewLoop("job", reconcile.ReconcileFunc(c.Reconcile), log)
	c.loop.WaitFor(jobInf.Informer().HasSynced, podInf.Informer().HasSynced)
	if _, err := jobInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.loop.Enqueue,
		UpdateFunc: func(_, cur any) { c.loop.Enqueue(cur) },
		DeleteFunc: c.deleteJob,
	}); err != nil {
		return nil, err
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.podGone,
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Run reconciles with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error { return c.loop.Run(ctx, workers) }

func (c *Controller) deleteJob(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	c.exp.Delete(key)
	c.mu.Lock()
	delete(c.backoff, key)
	c.mu.Unlock()
	c.loop.Add(key)
}

func (c *Controller) jobOf(p *corev1.Pod) *batchv1.Job {
	ref := metav1.GetControllerOfNoCopy(p)
	if ref == nil || ref.Kind != controllerKind.Kind {
		return nil
	}
	j, err := c.jobs.Jobs(p.Namespace).Get(ref.Name)
	if err != nil || j.UID != ref.UID {
		return nil
	}
	return j
}

func jobKey(j *batchv1.Job) string { return j.Namespace + "/" + j.Name }

func (c *Controller) addPod(obj any) {
	p := obj.(*corev1.Pod)
	if p.DeletionTimestamp != nil {
		c.deletePod(p)
		return
	}
	if j := c.jobOf(p); j != nil {
		c.exp.CreationObserved(jobKey(j))
		c.loop.Add(jobKey(j))
		return
	}
	c.enqueueSelecting(p)
}

func (c *Controller) updatePod(old, cur any) {
	o, n := old.(*corev1.Pod), cur.(*corev1.Pod)
	if o.ResourceVersion == n.ResourceVersion {
		return
	}
	if !hasFinalizer(n) {
		c.mu.Lock()
		delete(c.removing, n.UID)
		c.mu.Unlock()
	}
	if n.DeletionTimestamp != nil {
		c.deletePod(n)
		return
	}
	if j := c.jobOf(o); j != nil {
		c.loop.Add(jobKey(j))
	}
	if j := c.jobOf(n); j != nil {
		c.loop.Add(jobKey(j))
		return
	}
	c.enqueueSelecting(n)
}

func (c *Controller) deletePod(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		t, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if p, ok = t.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	if j := c.jobOf(p); j != nil {
		c.exp.DeletionObserved(jobKey(j), ownerref.PodKey(p))
		c.loop.Add(jobKey(j))
	}
}

// podGone is the informer's delete: the pod left the API.
func (c *Controller) podGone(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	c.mu.Lock()
	delete(c.removing, p.UID)
	c.mu.Unlock()
	c.deletePod(p)
}

// enqueueSelecting queues the Jobs whose selector matches an orphan pod.
func (c *Controller) enqueueSelecting(p *corev1.Pod) {
	jobs, _ := c.jobs.Jobs(p.Namespace).List(labels.Everything())
	for _, j := range jobs {
		sel, err := metav1.LabelSelectorAsSelector(j.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(p.Labels)) {
			c.loop.Add(jobKey(j))
		}
	}
}
