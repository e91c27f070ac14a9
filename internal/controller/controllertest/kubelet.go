package controllertest

import (
	"context"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Kubelet plays the node side for controller tests, with no containers:
// it finishes the deletion of terminating pods at once (as a kubelet
// does once containers stop) and, while AutoReady is set, binds pending
// pods to Node and reports them Running and Ready.
type Kubelet struct {
	Client    kubernetes.Interface
	Node      string
	AutoReady atomic.Bool
}

// Run works until ctx ends.
func (k *Kubelet) Run(ctx context.Context) {
	f := informers.NewSharedInformerFactory(k.Client, 0)
	inf := f.Core().V1().Pods().Informer()
	q := workqueue.NewTyped[string]()
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			q.Add(key)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) }})
	f.Start(ctx.Done())
	go func() { <-ctx.Done(); q.ShutDown() }()
	for {
		key, quit := q.Get()
		if quit {
			return
		}
		obj, ok, _ := inf.GetStore().GetByKey(key)
		if ok {
			if err := k.handle(ctx, obj.(*corev1.Pod)); err != nil && ctx.Err() == nil {
				q.Done(key)
				q.Add(key)
				continue
			}
		}
		q.Done(key)
	}
}

func (k *Kubelet) handle(ctx context.Context, p *corev1.Pod) error {
	if p.DeletionTimestamp != nil {
		if len(p.Finalizers) > 0 {
			return nil
		}
		zero := int64(0)
		err := k.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
			GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &p.UID}})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	}
	if k.AutoReady.Load() && !isReady(p) {
		err := SetPodReady(ctx, k.Client, p, k.Node, true, time.Now())
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	return nil
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// StartKubelet runs a Kubelet for node until the test ends.
func (e *Env) StartKubelet(node string, autoReady bool) *Kubelet {
	k := &Kubelet{Client: kubernetes.NewForConfigOrDie(e.Server.Admin), Node: node}
	k.AutoReady.Store(autoReady)
	go k.Run(e.Ctx)
	return k
}
