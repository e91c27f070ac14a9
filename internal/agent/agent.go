// Package agent is Skiff's node agent, its kubelet: it registers the
// Node, renews its Lease, and runs the pods bound to the node through a
// runtime.Runtime (containerd over CRI, or the simulated runtime for
// hollow nodes), writing their status and events as upstream's kubelet
// does.
//
// The decisions are pure and live elsewhere: podsync plans a pod's next
// actions, status computes its API status, podconfig turns a pod and a
// container into the runtime's configuration. volumes prepares pods'
// volume directories and probes runs their probes. This package is the
// I/O around them: informers, one worker goroutine per pod, the runtime
// calls, the API writes. docs/agent.md draws its goroutines and the order
// of one pod sync.
//
// Usage:
//
//	a, err := agent.New(agent.Config{NodeName: "n1", Client: cs, Runtime: rt, DataDir: dir})
//	err = a.Run(ctx) // until ctx ends
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"skiff.dev/skiff/internal/agent/images"
	"skiff.dev/skiff/internal/agent/probes"
	"skiff.dev/skiff/internal/agent/runtime"
	"skiff.dev/skiff/internal/agent/tokens"
	"skiff.dev/skiff/internal/agent/volumes"
)

// KubeletVersion is what nodes report as nodeInfo.kubeletVersion: the
// Kubernetes version Skiff serves, marked as Skiff's.
const KubeletVersion = "v1.37.2-skiff"

// Config configures one node's agent.
type Config struct {
	// NodeName is the Node's name (required).
	NodeName string
	// Client talks to the API server as the node (system:node:<name>).
	Client Client
	// Runtime runs the node's sandboxes and containers.
	Runtime runtime.Runtime
	// DataDir holds the agent's state: pods/<uid>/ (volumes) and
	// pod logs. Required for a real runtime; may be empty when simulated.
	DataDir string
	// NodeIP is the node's InternalIP; empty: the machine's first usable
	// address.
	NodeIP string
	// PodCIDR is the node's pod network; empty: the Node's
	// spec.podCIDR, or a /24 of 10.42.0.0/16 the agent picks.
	PodCIDR string
	// Machine overrides what the agent reads from the machine (capacity,
	// nodeInfo); simulated nodes use it to describe hollow machines.
	Machine *Machine
	// Labels are extra node labels (e.g. node-role.kubernetes.io/...).
	Labels map[string]string
	// Clock drives decisions and timestamps (back-off, status times,
	// lease renew times, per-pod requeues); nil: the real one. Periodic
	// polling (relist, node status, lease renewal) runs on real time.
	Clock clock.WithTicker
	// Log receives the agent's logs; nil: slog.Default().
	Log *slog.Logger
	// Intervals; zero values are upstream's defaults.
	LeaseDuration    time.Duration // 40 s
	NodeStatusReport time.Duration // 5 min: status is posted at least this often
	NodeStatusCheck  time.Duration // 10 s: status is computed and posted if changed
	RelistPeriod     time.Duration // 1 s: how often the runtime is polled for container changes
	PodResyncPeriod  time.Duration // 10 s: each pod is synced at least this often (volumes refreshed as often)
	// Cgroups keeps the pods' cgroups (a cgroups.Manager); nil: pods get
	// none (simulated nodes, machines without usable cgroups).
	Cgroups PodCgroups
	// PodPidsLimit is each pod's PID limit, the pids.max of its cgroup
	// (kubelet's podPidsLimit); 0 or less: unlimited. Needs Cgroups.
	PodPidsLimit int64
	// DisableProbes makes every container started and ready once running
	// and never restarts one for a probe: for hollow nodes, whose pod IPs
	// reach nothing, so that httpGet/tcpSocket/grpc probes would fail.
	DisableProbes bool
	// ClusterDomain is the cluster's DNS domain; empty: "cluster.local".
	ClusterDomain string
	// ClusterDNS are the cluster DNS servers ClusterFirst pods use. Empty:
	// the clusterIP of the service kube-system/kube-dns when it exists;
	// otherwise pods fall back to the node's resolv.conf with upstream's
	// MissingClusterDNS event.
	ClusterDNS []string
	// Shared, if set, holds the pod and service informers and the event
	// broadcaster this node shares with the other nodes of the process
	// (simulated ones); nil: the node has its own.
	Shared *Shared
	// ResolvConf is the node's resolv.conf, which pods with dnsPolicy
	// Default (and ClusterFirst ones without cluster DNS) get. Empty:
	// /run/systemd/resolve/resolv.conf when it exists (systemd-resolved's
	// stub at 127.0.0.53 in /etc/resolv.conf is unreachable from a pod),
	// else /etc/resolv.conf.
	ResolvConf string
	// ImageGC is the image garbage collection policy (zero fields:
	// upstream's 85%, 80%, 2 min). It runs on runtimes that report their
	// image filesystem (containerd), not on simulated nodes.
	ImageGC images.Policy
	// PinnedImages are never garbage-collected: the sandbox image.
	PinnedImages []string
}

// Agent is one node's agent. Create it with New, run it with Run.
type Agent struct {
	cfg      Config
	client   Client
	rt       runtime.Runtime
	clock    clock.WithTicker
	log      *slog.Logger
	recorder record.EventRecorder

	// Set during registration, read-only afterwards.
	runtimeName string
	hostIPs     []string
	podCIDR     netip.Prefix
	machine     *Machine
	nodeUID     types.UID

	pods     cache.SharedIndexInformer
	services cache.SharedIndexInformer
	sources  *apiSources      // config maps and secrets, set in Run
	volumes  *volumes.Manager // nil without a DataDir (simulated nodes)
	tokens   *tokens.Manager  // projected service account tokens, with volumes
	probes   *probes.Manager
	statuses *statusCache  // the last status computed per pod, for probes
	started  chan struct{} // closed at the end of start-up
	cgroups  PodCgroups    // nil: no pod cgroups

	mu      sync.Mutex
	workers map[types.UID]*podWorker
	wg      sync.WaitGroup // pod workers
}

// New checks cfg and returns an agent ready to Run.
func New(cfg Config) (*Agent, error) {
	if cfg.NodeName == "" || cfg.Client == nil || cfg.Runtime == nil {
		return nil, errors.New("agent: NodeName, Client and Runtime are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.LeaseDuration, 40*time.Second)
	def(&cfg.NodeStatusReport, 5*time.Minute)
	def(&cfg.NodeStatusCheck, 10*time.Second)
	def(&cfg.RelistPeriod, time.Second)
	def(&cfg.PodResyncPeriod, 10*time.Second)
	if err := cfg.ImageGC.WithDefaults().Validate(); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
		if _, err := os.Stat("/run/systemd/resolve/resolv.conf"); err == nil {
			cfg.ResolvConf = "/run/systemd/resolve/resolv.conf"
		}
	}
	a := &Agent{
		cfg: cfg, client: cfg.Client, rt: cfg.Runtime, clock: cfg.Clock, cgroups: cfg.Cgroups,
		log:     cfg.Log.With("component", "agent", "node", cfg.NodeName),
		workers: map[types.UID]*podWorker{},
	}
	// The informer exists from New so Pod may be called before Run (it
	// answers from an empty cache until Run has synced it).
	if cfg.Shared != nil {
		a.pods, a.services = cfg.Shared.pods, cfg.Shared.services
	} else {
		a.pods = newPodInformer(cfg.Client, cfg.NodeName)
		a.services = newServiceInformer(cfg.Client)
	}
	a.started = make(chan struct{})
	a.statuses = newStatusCache()
	a.probes = probes.NewManager(probes.Config{
		Prober: &probes.Prober{Exec: cfg.Runtime}, Status: a.statuses, Clock: cfg.Clock,
		OnEvent: a.probeEvent,
	})
	return a, nil
}

// Pod is the pod namespace/name bound to this node, from the agent's
// informer cache; false if the node has no such pod (or the cache has
// not synced yet). The streaming server uses it to resolve exec, attach,
// logs and port-forward targets. The pod is shared: do not modify it.
func (a *Agent) Pod(namespace, name string) (*corev1.Pod, bool) {
	obj, ok, err := a.pods.GetStore().GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil, false
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName != a.cfg.NodeName {
		return nil, false // another node's, in a cache shared with it
	}
	return pod, true
}

// Started is closed once Run has registered the node and its informers
// have synced: the end of the agent's start-up.
func (a *Agent) Started() <-chan struct{} { return a.started }

// Run registers the node and runs it until ctx ends. It returns an error
// only if the node cannot be set up; once running, failures are logged
// and retried.
func (a *Agent) Run(ctx context.Context) error {
	events := a.cfg.Shared.eventBroadcaster(a.cfg.NodeName)
	if events == nil {
		events = record.NewBroadcaster(record.WithContext(ctx))
		events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: a.client.CoreV1().Events("")})
		defer events.Shutdown()
	}
	a.recorder = events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: a.cfg.NodeName})

	a.recorder.Eventf(a.nodeRef(), corev1.EventTypeNormal, "Starting", "Starting kubelet.")
	if err := a.register(ctx); err != nil {
		return err
	}
	a.log.Info("node registered", "podCIDR", a.podCIDR, "ip", a.hostIPs, "runtime", a.runtimeName)
	a.sources = &apiSources{ctx: ctx, client: a.client}
	a.initCgroups()
	if a.cfg.DataDir != "" {
		_, allocatable := a.machine.capacity()
		a.tokens = tokens.New(tokens.FromClient(a.client), a.clock, a.log)
		a.volumes = volumes.New(volumes.Config{
			Root: a.cfg.DataDir, Getter: a.sources, Allocatable: allocatable, Tokens: a.tokens,
			// Without root the agent cannot mount tmpfs: secrets go to
			// disk rather than fail.
			NoTmpfs: os.Geteuid() != 0,
		})
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	// Probe workers go last: pod workers ask the manager until they end.
	defer a.probes.Stop()
	defer a.wg.Wait()
	wg.Go(func() { a.renewLease(ctx) })
	wg.Go(func() { a.syncNodeStatus(ctx) })
	if a.tokens != nil {
		wg.Go(func() { a.cleanUpTokens(ctx) })
	}

	// Services first: a pod's first containers need its service links
	// and the cluster DNS.
	if a.cfg.Shared == nil {
		wg.Go(func() { a.services.RunWithContext(ctx) })
	}
	if !cache.WaitForCacheSync(ctx.Done(), a.services.HasSynced) {
		return nil // ctx ended
	}
	if a.cfg.Shared != nil {
		defer a.cfg.Shared.subscribe(a.cfg.NodeName, func(pod *corev1.Pod) { a.wake(ctx, pod.UID) })()
	} else {
		if _, err := a.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { a.podChanged(ctx, obj) },
			UpdateFunc: func(_, obj any) { a.podChanged(ctx, obj) },
			DeleteFunc: func(obj any) { a.podChanged(ctx, obj) },
		}); err != nil {
			return fmt.Errorf("watch pods: %w", err)
		}
		wg.Go(func() { a.pods.RunWithContext(ctx) })
	}
	if !cache.WaitForCacheSync(ctx.Done(), a.pods.HasSynced) {
		return nil // ctx ended
	}
	if a.cfg.Shared != nil {
		// The shared informer's first list went to the nodes subscribed
		// then: wake a worker for each pod the node already has.
		for _, pod := range a.cfg.Shared.nodePods(a.cfg.NodeName) {
			a.wake(ctx, pod.UID)
		}
	}
	wg.Go(func() { a.relist(ctx) })
	if !a.cfg.DisableProbes {
		// Without probes no probe worker ever reports.
		wg.Go(func() { a.probeUpdates(ctx) })
	}
	wg.Go(func() { a.collectImages(ctx) })
	a.adoptPodDirs(ctx)
	close(a.started)
	<-ctx.Done()
	return nil
}

// podDir is where a pod's volumes and logs live.
func (a *Agent) podDir(uid types.UID) string {
	if a.cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(a.cfg.DataDir, "pods", string(uid))
}

// logDir is the pod's container log directory, as upstream lays it out.
func (a *Agent) logDir(pod *corev1.Pod) string {
	if a.cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(a.cfg.DataDir, "logs", fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
}
