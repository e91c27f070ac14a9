package scheduler

import (
	"container/heap"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"skiff.dev/skiff/internal/scheduler/framework"
)

// Back-off of a pod that failed: 1 s doubling per attempt up to 10 s, and
// the longest a pod waits in the unschedulable set without an event
// (upstream's defaults).
const (
	initialBackoff       = time.Second
	maxBackoff           = 10 * time.Second
	maxUnschedulableStay = 5 * time.Minute
	queueFlushInterval   = 100 * time.Millisecond
)

// queuedPod is a pending pod with its scheduling history.
type queuedPod struct {
	info      *framework.PodInfo
	timestamp time.Time // first entered the active queue this round
	attempts  int
	// backoffUntil is when a failed pod may be tried again;
	// unschedulableSince when it entered the unschedulable set.
	backoffUntil       time.Time
	unschedulableSince time.Time
	// rejectedBy names the plug-ins that rejected the pod last time; the
	// queue moves it back only on events that may satisfy one of them
	// (empty: any event).
	rejectedBy map[string]bool
	index      int // in its heap
}

// schedulingQueue is upstream's PriorityQueue: an active heap ordered by
// priority then age, a back-off heap ordered by expiry, and a set of
// unschedulable pods that cluster events move back. Pop blocks until a
// pod is active. It also keeps preemption's nominations.
//
// Safe for concurrent use: informer handlers add and move, the loop pops.
type schedulingQueue struct {
	mu    sync.Mutex
	cond  *sync.Cond
	clock clock.Clock

	active        podHeap
	backoff       podHeap
	unschedulable map[types.UID]*queuedPod
	// where says which of the three holds a pod (or inFlight).
	where    map[types.UID]int
	inFlight map[types.UID]*queuedPod

	// schedulingCycle counts pops; moveRequestCycle is the cycle of the
	// last move event, so a pod that fails while an event arrived is not
	// parked as unschedulable and missed.
	schedulingCycle  int64
	moveRequestCycle int64

	nominated     map[string][]*framework.PodInfo
	nominatedNode map[types.UID]string

	closed bool
}

const (
	inActive = iota + 1
	inBackoff
	inUnschedulable
)

func newSchedulingQueue(clk clock.Clock) *schedulingQueue {
	q := &schedulingQueue{
		clock:         clk,
		unschedulable: map[types.UID]*queuedPod{},
		where:         map[types.UID]int{},
		inFlight:      map[types.UID]*queuedPod{},
		nominated:     map[string][]*framework.PodInfo{},
		nominatedNode: map[types.UID]string{},
	}
	q.active.less = func(a, b *queuedPod) bool {
		if a.info.Priority != b.info.Priority {
			return a.info.Priority > b.info.Priority
		}
		return a.timestamp.Before(b.timestamp)
	}
	q.backoff.less = func(a, b *queuedPod) bool { return a.backoffUntil.Before(b.backoffUntil) }
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add queues a new pending pod, or updates one already known.
func (q *schedulingQueue) Add(pi *framework.PodInfo) {
	q.mu.Lock()
	defer q.mu.Unlock()
	uid := pi.Pod.UID
	if qp := q.find(uid); qp != nil {
		q.updateLocked(qp, pi)
		return
	}
	if _, ok := q.inFlight[uid]; ok {
		q.inFlight[uid].info = pi
		return
	}
	q.pushActive(&queuedPod{info: pi, timestamp: q.clock.Now()})
}

func (q *schedulingQueue) find(uid types.UID) *queuedPod {
	switch q.where[uid] {
	case inActive:
		return q.active.get(uid)
	case inBackoff:
		return q.backoff.get(uid)
	case inUnschedulable:
		return q.unschedulable[uid]
	}
	return nil
}

// updateLocked replaces the pod object; an unschedulable pod whose spec
// changed may fit now, so it moves on (to back-off if still backing off).
func (q *schedulingQueue) updateLocked(qp *queuedPod, pi *framework.PodInfo) {
	old := qp.info
	qp.info = pi
	switch q.where[pi.Pod.UID] {
	case inActive:
		heap.Fix(&q.active, qp.index)
	case inUnschedulable:
		if old.Pod.Generation != pi.Pod.Generation || !labelsEqual(old.Pod.Labels, pi.Pod.Labels) {
			delete(q.unschedulable, pi.Pod.UID)
			q.requeueLocked(qp)
		}
	}
}

func labelsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// Delete forgets a pod (deleted, bound elsewhere, or no longer ours).
func (q *schedulingQueue) Delete(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch q.where[uid] {
	case inActive:
		heap.Remove(&q.active, q.active.get(uid).index)
	case inBackoff:
		heap.Remove(&q.backoff, q.backoff.get(uid).index)
	case inUnschedulable:
		delete(q.unschedulable, uid)
	}
	delete(q.where, uid)
	q.deleteNominatedLocked(uid)
}

func (q *schedulingQueue) pushActive(qp *queuedPod) {
	heap.Push(&q.active, qp)
	q.where[qp.info.Pod.UID] = inActive
	q.cond.Signal()
}

// Pop waits for an active pod; it returns nil once the queue is closed.
// The caller must call Done, AddUnschedulable or AddBackoff for it.
func (q *schedulingQueue) Pop() (*queuedPod, int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return nil, 0
	}
	qp := heap.Pop(&q.active).(*queuedPod)
	delete(q.where, qp.info.Pod.UID)
	q.inFlight[qp.info.Pod.UID] = qp
	q.schedulingCycle++
	qp.attempts++
	return qp, q.schedulingCycle
}

// Done ends a pod's cycle (bound or given up).
func (q *schedulingQueue) Done(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.inFlight, uid)
}

// AddUnschedulable parks a pod that fit nowhere in cycle: in back-off if a
// move event arrived during the cycle, otherwise in the unschedulable set
// until an event that may help.
func (q *schedulingQueue) AddUnschedulable(qp *queuedPod, cycle int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.inFlight[qp.info.Pod.UID]; !ok {
		return // deleted meanwhile
	}
	delete(q.inFlight, qp.info.Pod.UID)
	now := q.clock.Now()
	qp.backoffUntil = now.Add(backoffFor(qp.attempts))
	if q.moveRequestCycle >= cycle {
		q.pushBackoff(qp)
		return
	}
	qp.unschedulableSince = now
	q.unschedulable[qp.info.Pod.UID] = qp
	q.where[qp.info.Pod.UID] = inUnschedulable
}

// AddBackoff retries a pod after its back-off (an internal or API error).
func (q *schedulingQueue) AddBackoff(qp *queuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	uid := qp.info.Pod.UID
	delete(q.inFlight, uid)
	if q.where[uid] != 0 {
		return
	}
	qp.backoffUntil = q.clock.Now().Add(backoffFor(qp.attempts))
	q.pushBackoff(qp)
}

func (q *schedulingQueue) pushBackoff(qp *queuedPod) {
	heap.Push(&q.backoff, qp)
	q.where[qp.info.Pod.UID] = inBackoff
}

// backoffFor is 1 s × 2^(attempts-1), at most 10 s.
func backoffFor(attempts int) time.Duration {
	d := initialBackoff
	for i := 1; i < attempts; i++ {
		d *= 2
		if d >= maxBackoff {
			return maxBackoff
		}
	}
	return d
}

// MoveUnschedulable moves the unschedulable pods that helps says may now
// fit to the active queue (or back-off, if theirs has not expired). helps
// receives the plug-ins that rejected the pod.
func (q *schedulingQueue) MoveUnschedulable(helps func(rejectedBy map[string]bool) bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for uid, qp := range q.unschedulable {
		if len(qp.rejectedBy) == 0 || helps(qp.rejectedBy) {
			delete(q.unschedulable, uid)
			q.requeueLocked(qp)
		}
	}
	q.moveRequestCycle = q.schedulingCycle
}

func (q *schedulingQueue) requeueLocked(qp *queuedPod) {
	if q.clock.Now().Before(qp.backoffUntil) {
		q.pushBackoff(qp)
		return
	}
	qp.timestamp = q.clock.Now()
	q.pushActive(qp)
}

// flush moves expired back-offs to the active queue and pods parked too
// long in the unschedulable set back to it.
func (q *schedulingQueue) flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	for q.backoff.Len() > 0 && !now.Before(q.backoff.items[0].backoffUntil) {
		qp := heap.Pop(&q.backoff).(*queuedPod)
		qp.timestamp = now
		q.pushActive(qp)
	}
	for uid, qp := range q.unschedulable {
		if now.Sub(qp.unschedulableSince) > maxUnschedulableStay {
			delete(q.unschedulable, uid)
			q.requeueLocked(qp)
		}
	}
}

// Close wakes Pop for good.
func (q *schedulingQueue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// Len counts pods waiting in any part of the queue.
func (q *schedulingQueue) Len() (active, backoff, unschedulable int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active.Len(), q.backoff.Len(), len(q.unschedulable)
}

// Nominate records that pi waits for room preemption makes on node.
func (q *schedulingQueue) Nominate(pi *framework.PodInfo, node string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deleteNominatedLocked(pi.Pod.UID)
	if node == "" {
		return
	}
	q.nominated[node] = append(q.nominated[node], pi)
	q.nominatedNode[pi.Pod.UID] = node
}

// DeleteNominated drops pi's nomination.
func (q *schedulingQueue) DeleteNominated(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.deleteNominatedLocked(uid)
}

func (q *schedulingQueue) deleteNominatedLocked(uid types.UID) {
	node, ok := q.nominatedNode[uid]
	if !ok {
		return
	}
	delete(q.nominatedNode, uid)
	list := q.nominated[node]
	for i, p := range list {
		if p.Pod.UID == uid {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(q.nominated, node)
	} else {
		q.nominated[node] = list
	}
}

// NominatedSnapshot copies the nominations for one cycle (nil if none).
func (q *schedulingQueue) NominatedSnapshot() map[string][]*framework.PodInfo {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.nominated) == 0 {
		return nil
	}
	out := make(map[string][]*framework.PodInfo, len(q.nominated))
	for k, v := range q.nominated {
		out[k] = v
	}
	return out
}

// podHeap is a heap of queued pods with an index by UID.
type podHeap struct {
	items []*queuedPod
	byUID map[types.UID]*queuedPod
	less  func(a, b *queuedPod) bool
}

func (h *podHeap) get(uid types.UID) *queuedPod { return h.byUID[uid] }
func (h *podHeap) Len() int                     { return len(h.items) }
func (h *podHeap) Less(i, j int) bool           { return h.less(h.items[i], h.items[j]) }
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index, h.items[j].index = i, j
}
func (h *podHeap) Push(x any) {
	qp := x.(*queuedPod)
	qp.index = len(h.items)
	h.items = append(h.items, qp)
	if h.byUID == nil {
		h.byUID = map[types.UID]*queuedPod{}
	}
	h.byUID[qp.info.Pod.UID] = qp
}
func (h *podHeap) Pop() any {
	last := len(h.items) - 1
	qp := h.items[last]
	h.items[last] = nil
	h.items = h.items[:last]
	delete(h.byUID, qp.info.Pod.UID)
	return qp
}
