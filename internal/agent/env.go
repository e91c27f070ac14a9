package agent

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/tools/cache"

	"skiff.dev/skiff/internal/agent/podconfig"
	"skiff.dev/skiff/internal/agent/runtime"
)

// sourceTimeout bounds one read of a config map or secret.
const sourceTimeout = 10 * time.Second

// apiSources reads the config maps and secrets that containers'
// environments and volumes refer to, straight from the API (upstream's
// "Get" change-detection strategy): a node only ever needs a few of them,
// and re-reading them on each pod resync is how updates reach volumes.
// It satisfies podconfig.Getter and volumes.Getter.
type apiSources struct {
	ctx    context.Context // the agent's: reads end with it
	client Client
}

func (s *apiSources) Secret(namespace, name string) (*corev1.Secret, error) {
	ctx, cancel := context.WithTimeout(s.ctx, sourceTimeout)
	defer cancel()
	return s.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (s *apiSources) ConfigMap(namespace, name string) (*corev1.ConfigMap, error) {
	ctx, cancel := context.WithTimeout(s.ctx, sourceTimeout)
	defer cancel()
	return s.client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
}

// newServiceInformer watches every service: service link variables need
// the pod's namespace's, cluster DNS the kube-system/kube-dns one.
func newServiceInformer(client Client) cache.SharedIndexInformer {
	lw := cache.NewListWatchFromClient(client.CoreV1().RESTClient(), "services", metav1.NamespaceAll, fields.Everything())
	return cache.NewSharedIndexInformer(lw, &corev1.Service{}, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
}

// servicesFor are the services a pod's service links may come from: the
// master service default/kubernetes and those of the pod's namespace.
func (a *Agent) servicesFor(pod *corev1.Pod) []*corev1.Service {
	var out []*corev1.Service
	namespaces := []string{pod.Namespace}
	if pod.Namespace != metav1.NamespaceDefault {
		namespaces = append(namespaces, metav1.NamespaceDefault)
	}
	for _, ns := range namespaces {
		objs, err := a.services.GetIndexer().ByIndex(cache.NamespaceIndex, ns)
		if err != nil {
			continue
		}
		for _, o := range objs {
			if s, ok := o.(*corev1.Service); ok && (ns == pod.Namespace || s.Name == "kubernetes") {
				out = append(out, s)
			}
		}
	}
	return out
}

// clusterDNS is the cluster DNS servers: the configured ones, else the
// clusterIP of kube-system/kube-dns when that service exists, else none
// (pods then use the node's resolv.conf, as upstream without
// --cluster-dns).
func (a *Agent) clusterDNS() []string {
	if len(a.cfg.ClusterDNS) > 0 {
		return a.cfg.ClusterDNS
	}
	obj, ok, err := a.services.GetStore().GetByKey("kube-system/kube-dns")
	if err != nil || !ok {
		return nil
	}
	s, _ := obj.(*corev1.Service)
	if s == nil || s.Spec.ClusterIP == "" || s.Spec.ClusterIP == corev1.ClusterIPNone {
		return nil
	}
	return []string{s.Spec.ClusterIP}
}

// environment computes a container's env with podconfig.Environment
// (envFrom, env, service links), publishing its warnings as events. A
// missing source comes back with upstream's message, which the caller
// reports as CreateContainerConfigError.
func (a *Agent) environment(pod *corev1.Pod, c *corev1.Container, podIPs []string) ([]runtime.KeyValue, error) {
	_, allocatable := a.machine.capacity()
	env, events, err := podconfig.Environment(pod, c, podconfig.EnvInput{
		Getter: a.sources, Services: a.servicesFor(pod), PodIPs: podIPs, HostIPs: a.hostIPs, Allocatable: allocatable,
	})
	for _, e := range events {
		a.event(pod, nil, corev1.EventTypeWarning, e.Reason, e.Message)
	}
	if err != nil {
		return nil, err // unwrapped: its message is the container status's
	}
	return env, nil
}
