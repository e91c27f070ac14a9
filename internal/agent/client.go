package agent

import (
	"fmt"

	"k8s.io/client-go/kubernetes"
	typedcoordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
)

// Client is the API the agent calls: the core group (its Node, pods and
// their status, events, config maps, secrets, service account tokens)
// and its Lease. *kubernetes.Clientset satisfies it.
type Client interface {
	CoreV1() typedcorev1.CoreV1Interface
	CoordinationV1() typedcoordinationv1.CoordinationV1Interface
}

var _ Client = (*kubernetes.Clientset)(nil)

// groupClients is a Client of just the two groups the agent calls: a
// full clientset builds a REST client and codecs for each of the ~50
// groups, some 30 KB a node that a thousand simulated nodes never use.
type groupClients struct {
	core         typedcorev1.CoreV1Interface
	coordination typedcoordinationv1.CoordinationV1Interface
}

func (c groupClients) CoreV1() typedcorev1.CoreV1Interface { return c.core }
func (c groupClients) CoordinationV1() typedcoordinationv1.CoordinationV1Interface {
	return c.coordination
}

// NewClient returns a Client for cfg: the two groups' clients over one
// HTTP client.
func NewClient(cfg *rest.Config) (Client, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("agent client: %w", err)
	}
	core, err := typedcorev1.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("agent client: %w", err)
	}
	coordination, err := typedcoordinationv1.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("agent client: %w", err)
	}
	return groupClients{core: core, coordination: coordination}, nil
}
