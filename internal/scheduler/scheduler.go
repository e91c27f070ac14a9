package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"

	"skiff.dev/skiff/internal/scheduler/framework"
	"skiff.dev/skiff/internal/scheduler/preemption"
)

// DefaultSchedulerName is the spec.schedulerName this scheduler serves
// and its events' reporting controller.
const DefaultSchedulerName = v1.DefaultSchedulerName

// Options tune a Scheduler; the zero value is upstream's defaults.
type Options struct {
	// SchedulerName selects the pods handled (default "default-scheduler").
	SchedulerName string
	// PercentageOfNodesToScore: 0 is adaptive, as upstream.
	PercentageOfNodesToScore int
	// Parallelism bounds the goroutines filtering and scoring nodes
	// (default GOMAXPROCS).
	Parallelism int
	// APIConcurrency bounds the binding, status and deletion calls in
	// flight (default 64).
	APIConcurrency int
	Log            *slog.Logger
	Clock          clock.Clock
	// ResolvePriorityClasses gives pods without spec.priority their
	// PriorityClass's value, for API servers without the Priority
	// admission plug-in (tests on a bare API server). Off, as upstream,
	// the scheduler needs no read access to PriorityClasses, which the
	// system:kube-scheduler role does not grant.
	ResolvePriorityClasses bool
}

// Scheduler assigns pending pods to nodes: informers feed the cache and
// the queue, one loop pops pods and runs the framework on a snapshot, and
// API calls (bindings, status patches, preemption's deletions) run
// asynchronously with bounded concurrency. See docs/scheduler.md.
type Scheduler struct {
	client   kubernetes.Interface
	opts     Options
	log      *slog.Logger
	fw       *framework.Framework
	cache    *nodeCache
	queue    *schedulingQueue
	snap     *framework.Snapshot
	prio     priorityResolver
	pods     corelisters.PodLister
	pdbs     policylisters.PodDisruptionBudgetLister
	synced   []toolscache.InformerSynced
	events   events.EventBroadcaster
	recorder events.EventRecorder
	apiSlots chan struct{}
}

// New wires a scheduler to factory's informers; call it before
// factory.Start. Run does the work.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, opts Options) *Scheduler {
	if opts.SchedulerName == "" {
		opts.SchedulerName = DefaultSchedulerName
	}
	if opts.APIConcurrency <= 0 {
		opts.APIConcurrency = 64
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	core, apps := factory.Core().V1(), factory.Apps().V1()
	s := &Scheduler{
		client:   client,
		opts:     opts,
		log:      opts.Log,
		cache:    newCache(),
		queue:    newSchedulingQueue(opts.Clock),
		pods:     core.Pods().Lister(),
		pdbs:     factory.Policy().V1().PodDisruptionBudgets().Lister(),
		apiSlots: make(chan struct{}, opts.APIConcurrency),
	}
	s.fw = NewDefaultFramework(workloadSelector{
		services: core.Services().Lister(), rcs: core.ReplicationControllers().Lister(),
		rss: apps.ReplicaSets().Lister(), sss: apps.StatefulSets().Lister(),
	}, namespaceLabels{core.Namespaces().Lister()})
	s.fw.PercentageOfNodesToScore = opts.PercentageOfNodesToScore
	if opts.Parallelism > 0 {
		s.fw.Parallelism = opts.Parallelism
	}
	informers := []toolscache.SharedIndexInformer{
		core.Services().Informer(), core.ReplicationControllers().Informer(), apps.ReplicaSets().Informer(),
		apps.StatefulSets().Informer(), core.Namespaces().Informer(), factory.Policy().V1().PodDisruptionBudgets().Informer(),
	}
	if opts.ResolvePriorityClasses {
		s.prio.classes = factory.Scheduling().V1().PriorityClasses().Lister()
		informers = append(informers, factory.Scheduling().V1().PriorityClasses().Informer())
	}
	for _, inf := range informers {
		s.synced = append(s.synced, inf.HasSynced)
	}
	podInf, nodeInf := core.Pods().Informer(), core.Nodes().Informer()
	nodeInf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: s.onNodeAdd, UpdateFunc: s.onNodeUpdate, DeleteFunc: s.onNodeDelete})
	podInf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: s.onPodAdd, UpdateFunc: s.onPodUpdate, DeleteFunc: s.onPodDelete})
	s.synced = append(s.synced, podInf.HasSynced, nodeInf.HasSynced)
	s.events = events.NewBroadcaster(&events.EventSinkImpl{Interface: client.EventsV1()})
	s.recorder = s.events.NewRecorder(scheme.Scheme, opts.SchedulerName)
	return s
}

// Run schedules until ctx ends. The informer factory must be started.
func (s *Scheduler) Run(ctx context.Context) {
	s.events.StartRecordingToSink(ctx.Done())
	defer s.events.Shutdown()
	if !toolscache.WaitForCacheSync(ctx.Done(), s.synced...) {
		return
	}
	go func() {
		t := time.NewTicker(queueFlushInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				s.queue.Close()
				return
			case <-t.C:
				s.queue.flush()
			}
		}
	}()
	s.log.Info("scheduler started", "name", s.opts.SchedulerName)
	for {
		qp, cycle := s.queue.Pop()
		if qp == nil {
			return
		}
		s.scheduleOne(ctx, qp, cycle)
	}
}

// responsible reports whether a pending pod is this scheduler's.
func (s *Scheduler) responsible(pod *v1.Pod) bool {
	return pod.Spec.SchedulerName == s.opts.SchedulerName && pod.Spec.NodeName == "" &&
		pod.DeletionTimestamp == nil && !terminal(pod)
}

func terminal(pod *v1.Pod) bool {
	return pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed
}

func (s *Scheduler) podInfo(pod *v1.Pod) *framework.PodInfo {
	return framework.NewPodInfo(pod, s.prio.priority(pod))
}

// scheduleOne is one scheduling cycle; the binding happens in the
// background.
func (s *Scheduler) scheduleOne(ctx context.Context, qp *queuedPod, cycle int64) {
	pod := qp.info.Pod
	if cur, err := s.pods.Pods(pod.Namespace).Get(pod.Name); err != nil || cur.UID != pod.UID || !s.responsible(cur) || s.cache.Has(pod.UID) {
		s.queue.Done(pod.UID)
		return
	}
	s.snap = s.cache.UpdateSnapshot(s.snap)
	s.snap.Nominated = s.queue.NominatedSnapshot()
	state := framework.NewCycleState()
	res, err := s.fw.Schedule(ctx, state, s.snap, qp.info)
	if err != nil {
		s.handleFailure(ctx, qp, cycle, state, err)
		return
	}
	// A shallow copy: the assumed pod shares the informer's maps and
	// slices, which nobody changes; only its node differs.
	assumed := new(v1.Pod)
	*assumed = *pod
	assumed.Spec.NodeName = res.Node
	pi := *qp.info
	pi.Pod = assumed
	s.cache.AssumePod(&pi, res.Node)
	s.queue.DeleteNominated(pod.UID)
	s.queue.Done(pod.UID)
	s.async(ctx, func(ctx context.Context) { s.bind(ctx, qp, assumed, res.Node) })
}

// bind writes the pods/binding subresource; on failure the assumed pod is
// forgotten and the pod retried after back-off.
func (s *Scheduler) bind(ctx context.Context, qp *queuedPod, pod *v1.Pod, node string) {
	b := &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     v1.ObjectReference{Kind: "Node", Name: node},
	}
	if err := s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, b, metav1.CreateOptions{}); err != nil {
		s.cache.ForgetPod(pod.UID)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("binding failed", "pod", pod.Namespace+"/"+pod.Name, "node", node, "err", err)
		s.recorder.Eventf(qp.info.Pod, nil, v1.EventTypeWarning, "FailedScheduling", "Scheduling", "Binding rejected: %v", err)
		s.queue.AddBackoff(&queuedPod{info: qp.info, timestamp: qp.timestamp, attempts: qp.attempts})
		return
	}
	s.recorder.Eventf(pod, nil, v1.EventTypeNormal, "Scheduled", "Binding", "Successfully assigned %v/%v to %v", pod.Namespace, pod.Name, node)
}

// handleFailure runs preemption for an unschedulable pod, then records
// why it failed (PodScheduled=False condition, FailedScheduling event)
// and parks it in the queue.
func (s *Scheduler) handleFailure(ctx context.Context, qp *queuedPod, cycle int64, state *framework.CycleState, err error) {
	pod := qp.info.Pod
	reason := v1.PodReasonUnschedulable
	nominated := pod.Status.NominatedNodeName
	var fitErr *framework.FitError
	switch {
	case errors.As(err, &fitErr):
		qp.rejectedBy = fitErr.Diagnosis.UnschedulablePlugins
		var pdbs []*policyv1.PodDisruptionBudget
		if list, lerr := s.pdbs.List(labels.Everything()); lerr == nil {
			pdbs = list
		}
		d := preemption.Preempt(ctx, s.fw, state, s.snap, qp.info, &fitErr.Diagnosis, pdbs)
		fitErr.Diagnosis.PostFilterMsg = d.Message
		switch {
		case d.Node != "":
			nominated = d.Node
			s.queue.Nominate(qp.info, d.Node)
			s.preempt(ctx, qp.info.Pod, d)
		case d.Eligible:
			nominated = ""
			s.queue.DeleteNominated(pod.UID)
		}
	case errors.Is(err, framework.ErrNoNodesAvailable):
		qp.rejectedBy = nil
	default:
		reason = v1.PodReasonSchedulerError
		s.log.Error("scheduling failed", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
	msg := err.Error()
	s.recorder.Eventf(pod, nil, v1.EventTypeWarning, "FailedScheduling", "Scheduling", "%s", truncate(msg))
	if reason == v1.PodReasonUnschedulable {
		s.queue.AddUnschedulable(qp, cycle)
	} else {
		s.queue.AddBackoff(qp)
	}
	s.async(ctx, func(ctx context.Context) { s.patchStatus(ctx, pod, reason, msg, nominated) })
}

// truncate keeps an event note within the API's 1 kB limit.
func truncate(msg string) string {
	const max = 1024
	if len(msg) <= max {
		return msg
	}
	return msg[:max-3] + "..."
}

// patchStatus sets PodScheduled=False and the nominated node, skipping
// the write when nothing changed (upstream's updatePod).
func (s *Scheduler) patchStatus(ctx context.Context, pod *v1.Pod, reason, msg, nominated string) {
	cur, err := s.pods.Pods(pod.Namespace).Get(pod.Name)
	if err != nil || cur.UID != pod.UID || cur.Spec.NodeName != "" {
		return
	}
	cond := v1.PodCondition{Type: v1.PodScheduled, Status: v1.ConditionFalse, Reason: reason, Message: msg, LastTransitionTime: metav1.NewTime(s.opts.Clock.Now())}
	for _, c := range cur.Status.Conditions {
		if c.Type != v1.PodScheduled {
			continue
		}
		if c.Status == cond.Status && c.Reason == cond.Reason && c.Message == cond.Message && cur.Status.NominatedNodeName == nominated {
			return
		}
		if c.Status == cond.Status {
			cond.LastTransitionTime = c.LastTransitionTime
		}
	}
	patch := map[string]any{"status": map[string]any{
		"conditions":        []v1.PodCondition{cond},
		"nominatedNodeName": nominated,
	}}
	if nominated == "" {
		patch["status"].(map[string]any)["nominatedNodeName"] = nil
	}
	body, _ := json.Marshal(patch)
	if _, err := s.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{}, "status"); err != nil && ctx.Err() == nil {
		s.log.Warn("update pod status", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
}

// preempt deletes the victims gracefully (after marking them with the
// DisruptionTarget condition, as upstream) and clears the nominations of
// lower-priority pods that lost their room.
func (s *Scheduler) preempt(ctx context.Context, preemptor *v1.Pod, d preemption.Decision) {
	for _, victim := range d.Victims {
		s.async(ctx, func(ctx context.Context) {
			if victim.DeletionTimestamp != nil {
				return
			}
			cond := v1.PodCondition{Type: v1.DisruptionTarget, Status: v1.ConditionTrue, Reason: v1.PodReasonPreemptionByScheduler,
				Message: fmt.Sprintf("%s: preempting to accommodate a higher priority pod", preemptor.Spec.SchedulerName), LastTransitionTime: metav1.NewTime(s.opts.Clock.Now())}
			body, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []v1.PodCondition{cond}}})
			pods := s.client.CoreV1().Pods(victim.Namespace)
			if _, err := pods.Patch(ctx, victim.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{}, "status"); err != nil {
				s.log.Warn("mark preemption victim", "pod", victim.Namespace+"/"+victim.Name, "err", err)
			}
			uid := victim.UID
			if err := pods.Delete(ctx, victim.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}); err != nil {
				s.log.Warn("preempt victim", "pod", victim.Namespace+"/"+victim.Name, "err", err)
				return
			}
			s.recorder.Eventf(victim, preemptor, v1.EventTypeNormal, "Preempted", "Preempting", "Preempted by pod %v on node %v", preemptor.UID, d.Node)
		})
	}
	for _, p := range d.ClearNominated {
		s.queue.DeleteNominated(p.UID)
		s.async(ctx, func(ctx context.Context) {
			body := []byte(`{"status":{"nominatedNodeName":null}}`)
			if _, err := s.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{}, "status"); err != nil {
				s.log.Warn("clear nomination", "pod", p.Namespace+"/"+p.Name, "err", err)
			}
		})
	}
}

// async runs an API call on its own goroutine, at most APIConcurrency at
// once; the scheduling loop never waits for the network.
func (s *Scheduler) async(ctx context.Context, call func(context.Context)) {
	go func() {
		select {
		case s.apiSlots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-s.apiSlots }()
		call(ctx)
	}()
}
