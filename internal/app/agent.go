package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/skiff/internal/agent"
	"skiff.dev/skiff/internal/agent/cgroups"
	"skiff.dev/skiff/internal/agent/containerd"
	"skiff.dev/skiff/internal/agent/images"
	"skiff.dev/skiff/internal/agent/pause"
	"skiff.dev/skiff/internal/agent/podconfig"
	agentruntime "skiff.dev/skiff/internal/agent/runtime"
	"skiff.dev/skiff/internal/agent/runtime/fake"
	agentserver "skiff.dev/skiff/internal/agent/server"
	"skiff.dev/skiff/internal/auth/node"
	"skiff.dev/skiff/internal/auth/pki"
)

// AgentOptions configure the node agents of one process: the machine's
// own node (unless Simulate-only) and simulated hollow nodes.
type AgentOptions struct {
	// DataDir is Skiff's data directory; the agent keeps its state in
	// DataDir/agent.
	DataDir string
	// NodeName is the machine's node; default: the hostname, lowercased.
	NodeName string
	// ContainerRuntimeEndpoint selects an existing CRI runtime; empty:
	// the agent starts and supervises its own containerd.
	ContainerRuntimeEndpoint string
	// Simulate adds that many simulated nodes, named <NodeName>-sim-<i>.
	Simulate int
	// NoLocalNode runs only the simulated nodes.
	NoLocalNode bool
	// NodeIP is the local node's InternalIP, where its HTTPS server
	// listens (port 10250); empty: the address of the interface that
	// holds the default route.
	NodeIP string
	// PodCIDR is the local node's pod network; empty: the Node's
	// spec.podCIDR, or a /24 of 10.42.0.0/16 the agent picks.
	PodCIDR string
	// BridgeName is the pods' Linux bridge of a supervised containerd;
	// empty: skiff0. Two nodes on one machine need two bridges.
	BridgeName string
	// ImageGC is the local node's image garbage collection policy.
	ImageGC images.Policy
	// PodMaxPids is the local node's pod PID limit (kubelet's
	// podPidsLimit); 0: podconfig.DefaultPodPidsLimit; negative: none.
	PodMaxPids int64
	// Serving is the local node's HTTPS identity, without which the API
	// server cannot reach it for logs, exec, attach and port-forward.
	Serving ServingIdentity
}

// ServingIdentity is how the local node's HTTPS server (upstream's
// kubelet port 10250) gets its certificate and verifies its callers.
// Until bootstrap tokens let an agent ask the server for a certificate,
// it either holds the cluster CA (the server's in-process node, or an
// agent given the server's data directory) or is given files.
type ServingIdentity struct {
	// CA, if set, signs a serving certificate for the node's IP and
	// names at start, and is the default ClientCAs.
	CA *pki.CA
	// CertFile and KeyFile are a serving certificate and key signed by
	// the cluster CA (kubelet's --tls-cert-file, --tls-private-key-file),
	// used when CA is nil.
	CertFile, KeyFile string
	// ClientCAs verifies the API server's client certificate.
	ClientCAs *x509.CertPool
}

func (s ServingIdentity) configured() bool {
	return s.CA != nil || s.CertFile != ""
}

// certificate returns the serving certificate for hosts.
func (s ServingIdentity) certificate(hosts []string) (tls.Certificate, error) {
	if s.CA != nil {
		certPEM, keyPEM, err := s.CA.SignServing(hosts)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("sign the node's serving certificate: %w", err)
		}
		return tls.X509KeyPair(certPEM, keyPEM)
	}
	c, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load the node's serving certificate: %w", err)
	}
	return c, nil
}

// NodeConfigFunc returns the client config a node authenticates with.
type NodeConfigFunc func(nodeName string) (*rest.Config, error)

// RunAgents runs the local node's agent and the simulated nodes until ctx
// ends: the `skiff agent` process. A local node whose runtime cannot
// start is an error; simulated nodes never fail to start. Once every node
// has started, the process gives back its start-up memory, as `skiff
// server` does once it serves.
func RunAgents(ctx context.Context, opts AgentOptions, nodeConfig NodeConfigFunc) error {
	return runAgents(ctx, opts, nodeConfig, true)
}

// runAgents is RunAgents; releaseMemory says whether this process's
// start-up ends with the agents' (not so in `skiff server`, which gives
// back its memory itself).
func runAgents(ctx context.Context, opts AgentOptions, nodeConfig NodeConfigFunc, releaseMemory bool) error {
	if opts.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("node name: %w", err)
		}
		opts.NodeName = strings.ToLower(h)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	var agents []*agent.Agent
	if opts.Simulate > 0 {
		var err error
		if agents, err = StartSimulatedNodes(ctx, &wg, opts.NodeName+"-sim", opts.Simulate, nodeConfig); err != nil {
			return err
		}
	}
	local := make(chan *agent.Agent, 1)
	if !opts.NoLocalNode {
		wg.Go(func() {
			if err := runLocalNode(ctx, opts, nodeConfig, local); err != nil {
				errs <- err
			}
		})
	} else {
		local <- nil
	}
	if releaseMemory {
		go func() {
			if waitStarted(ctx, agents, local) {
				releaseStartupMemory()
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case err := <-errs:
		return err
	case <-done:
		return nil
	}
}

// waitStarted waits until the agents and the local node's (from local;
// nil: none) have started, and reports whether they all have before ctx
// ended.
func waitStarted(ctx context.Context, agents []*agent.Agent, local <-chan *agent.Agent) bool {
	select {
	case a := <-local:
		if a != nil {
			agents = append(agents, a)
		}
	case <-ctx.Done():
		return false
	}
	for _, a := range agents {
		select {
		case <-a.Started():
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// runLocalNode runs this machine's node on containerd: the configured
// CRI endpoint, or a containerd the agent starts and supervises. It sends
// the node's agent to created once there is one.
func runLocalNode(ctx context.Context, opts AgentOptions, nodeConfig NodeConfigFunc, created chan<- *agent.Agent) error {
	log := slog.Default().With("component", "agent", "node", opts.NodeName)
	cfg, err := nodeConfig(opts.NodeName)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	cidr, err := agent.SettlePodCIDR(ctx, client, opts.NodeName, opts.PodCIDR)
	if err != nil {
		return err
	}
	nodeIP := opts.NodeIP
	if nodeIP == "" {
		nodeIP = defaultNodeIP()
	}
	// Listen before anything starts: a node whose port is taken cannot
	// serve logs or exec, which upstream's kubelet treats as fatal too.
	var ln net.Listener
	if opts.Serving.configured() {
		addr := net.JoinHostPort(nodeIP, strconv.Itoa(agentserver.Port))
		if ln, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("node server: listen on %s: %w", addr, err)
		}
		defer ln.Close()
	} else {
		log.Warn("the node has no serving certificate: kubectl logs, exec, attach and port-forward will not reach it")
	}
	agentDir := filepath.Join(opts.DataDir, "agent")
	endpoint := opts.ContainerRuntimeEndpoint
	if endpoint == "" {
		proc, err := containerd.Start(ctx, containerd.Options{DataDir: opts.DataDir, PodCIDR: cidr.String(), BridgeName: opts.BridgeName, Logger: log})
		if err != nil {
			return fmt.Errorf("start containerd: %w", err)
		}
		defer proc.Stop()
		endpoint = proc.Endpoint()
	}
	rt, err := agentruntime.NewCRI(ctx, endpoint)
	if err != nil {
		return err
	}
	defer rt.Close()
	if names, err := agentruntime.ImportDir(ctx, rt, filepath.Join(agentDir, "images")); err != nil {
		log.Warn("import images", "err", err)
	} else if len(names) > 0 {
		log.Info("imported images", "images", names)
	}
	acfg := agent.Config{
		NodeName: opts.NodeName, Client: client, Runtime: rt, DataDir: agentDir,
		NodeIP: nodeIP, PodCIDR: cidr.String(), Log: slog.Default(),
		ImageGC: opts.ImageGC, PinnedImages: []string{pause.Image},
		PodPidsLimit: EffectivePodMaxPids(opts.PodMaxPids),
	}
	if cg, err := podCgroups(); err != nil {
		log.Warn("pods run without pod cgroups (no pod PID limit)", "err", err)
	} else {
		acfg.Cgroups = cg
	}
	a, err := agent.New(acfg)
	if err != nil {
		return err
	}
	created <- a
	if ln == nil {
		return a.Run(ctx)
	}
	srv, tlsConfig, err := nodeServer(opts, nodeIP, a, rt)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		if err := srv.Serve(ctx, ln, tlsConfig); err != nil && ctx.Err() == nil {
			log.Error("node server stopped", "err", err)
		}
	})
	log.Info("node server listening", "address", ln.Addr().String())
	return a.Run(ctx)
}

// DefaultPodMaxPids is --pod-max-pids' default (see
// podconfig.DefaultPodPidsLimit for why a limit, and why this one).
const DefaultPodMaxPids = podconfig.DefaultPodPidsLimit

// EffectivePodMaxPids is the pod PID limit the local node applies for
// --pod-max-pids: podconfig.DefaultPodPidsLimit for 0, -1 (none) for any
// negative value.
func EffectivePodMaxPids(flag int64) int64 {
	switch {
	case flag == 0:
		return podconfig.DefaultPodPidsLimit
	case flag < 0:
		return -1
	}
	return flag
}

// podCgroups manages the local node's pod cgroups under /kubepods, on the
// machine's cgroup v1 or v2 hierarchy.
func podCgroups() (*cgroups.Manager, error) {
	layout, err := cgroups.Detect()
	if err != nil {
		return nil, err
	}
	return cgroups.New(layout, "/")
}

// nodeServer is the local node's HTTPS server, with a certificate for
// the node's IP, its name and the machine's hostname (the addresses the
// API server may dial, see apiserver's agentURL).
func nodeServer(opts AgentOptions, nodeIP string, a *agent.Agent, rt *agentruntime.CRI) (*agentserver.Server, *tls.Config, error) {
	hosts := []string{nodeIP, opts.NodeName}
	if h, err := os.Hostname(); err == nil && !strings.EqualFold(h, opts.NodeName) {
		hosts = append(hosts, strings.ToLower(h))
	}
	cert, err := opts.Serving.certificate(hosts)
	if err != nil {
		return nil, nil, err
	}
	clientCAs := opts.Serving.ClientCAs
	if clientCAs == nil && opts.Serving.CA != nil {
		clientCAs = opts.Serving.CA.Pool()
	}
	if clientCAs == nil {
		return nil, nil, errors.New("node server: no client CA to verify the API server with")
	}
	srv, err := agentserver.New(agentserver.Config{
		Lookup:  agentserver.StatusLookup{Pods: a.Pod, Runtime: rt},
		Runtime: rt,
	})
	if err != nil {
		return nil, nil, err
	}
	return srv, agentserver.TLSConfig(cert, clientCAs), nil
}

// defaultNodeIP is the address of the interface that holds the default
// route (no packet is sent), else the first usable interface address:
// what the agent itself would pick, decided here so the serving
// certificate and the listener match the Node's InternalIP.
func defaultNodeIP() string {
	if c, err := net.Dial("udp4", "192.0.2.1:9"); err == nil {
		defer c.Close()
		if ua, ok := c.LocalAddr().(*net.UDPAddr); ok && !ua.IP.IsLoopback() {
			return ua.IP.String()
		}
	}
	addrs, _ := net.InterfaceAddrs()
	for _, ad := range addrs {
		if n, ok := ad.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	return "127.0.0.1"
}

// SimulatedMachine is what a simulated node reports: a roomy hollow
// machine (KWOK's defaults), whatever the host has.
func SimulatedMachine(name string) *agent.Machine {
	return &agent.Machine{
		CPUs: 32, MemoryBytes: 256 << 30, EphemeralStorage: 1 << 40, Hostname: name,
		KernelVersion: "simulated", OSImage: "Skiff simulated node", MachineID: name, SystemUUID: name, BootID: name,
	}
}

// StartSimulatedNodes starts n simulated nodes named <prefix>-<i>, each
// with its own simulated runtime and identity, in this process; they run
// until ctx ends, tracked by wg. Node i has pod CIDR 10.(128+i/256).(i%256).0/24
// and InternalIP 172.16.0.0 + i + 1. The nodes share one pod informer,
// one service informer and one event broadcaster (agent.Shared), with
// the identity nodeConfig gives <prefix>; each writes its Node, Lease
// and pods' status as itself.
func StartSimulatedNodes(ctx context.Context, wg *sync.WaitGroup, prefix string, n int, nodeConfig NodeConfigFunc) ([]*agent.Agent, error) {
	if n > 128*256 {
		return nil, errors.New("at most 32768 simulated nodes")
	}
	sharedCfg, err := nodeConfig(prefix)
	if err != nil {
		return nil, err
	}
	// The nodes' events all go through this client: give it the rate
	// limits n upstream kubelets would have between them.
	sharedCfg.QPS, sharedCfg.Burst = float32(n)*max(sharedCfg.QPS, 5), n*max(sharedCfg.Burst, 10)
	sharedClient, err := agent.NewClient(sharedCfg)
	if err != nil {
		return nil, err
	}
	shared := agent.NewShared(sharedClient)
	wg.Go(func() { shared.Run(ctx) })
	agents := make([]*agent.Agent, 0, n)
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		cfg, err := nodeConfig(name)
		if err != nil {
			return nil, err
		}
		// Just the groups a node calls, not a full clientset: a
		// thousand of those are ~30 MB.
		client, err := agent.NewClient(cfg)
		if err != nil {
			return nil, err
		}
		cidr := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(128 + i/256), byte(i % 256), 0}), 24)
		ip := netip.AddrFrom4([4]byte{172, 16 + byte((i+1)>>16), byte((i + 1) >> 8), byte(i + 1)})
		a, err := agent.New(agent.Config{
			NodeName: name, Client: client, Runtime: fake.New(fake.Options{PodCIDR: cidr}),
			NodeIP: ip.String(), PodCIDR: cidr.String(), Machine: SimulatedMachine(name),
			Labels: map[string]string{"type": "simulated"},
			// Simulated pods' IPs reach nothing: probes succeed, as
			// the issue asks of hollow nodes.
			DisableProbes: true,
			Shared:        shared,
			Log:           slog.Default(),
		})
		if err != nil {
			return nil, err
		}
		agents = append(agents, a)
		wg.Go(func() {
			if err := a.Run(ctx); err != nil {
				slog.Error("simulated node stopped", "node", name, "err", err)
			}
		})
	}
	return agents, nil
}

// nodeComponentConfig is a node's client config inside the server: a
// client certificate for system:node:<name> in system:nodes, the identity
// a joined agent gets through the TLS bootstrap, so that the Node
// authorizer and NodeRestriction hold the in-process agent to the same
// rights; with upstream kubelet's default client rate limits.
func nodeComponentConfig(p *pki.ServerPKI) NodeConfigFunc {
	return func(name string) (*rest.Config, error) {
		user := "system:node:" + name
		certPEM, keyPEM, err := p.CA.SignClient(user, []string{node.Group})
		if err != nil {
			return nil, fmt.Errorf("sign %s certificate: %w", user, err)
		}
		return &rest.Config{
			Host: p.ServerURL, QPS: 50, Burst: 100, UserAgent: "skiff-agent/" + name,
			TLSClientConfig: rest.TLSClientConfig{CAData: p.CA.CertPEM, CertData: certPEM, KeyData: keyPEM},
		}, nil
	}
}

// startServerAgents starts `skiff server`'s node agents in the
// background: the machine's node unless --disable-agent, and
// --simulate-nodes simulated ones. A local node whose runtime is missing
// is logged, not fatal: the control plane still serves. The returned
// function waits, once ctx has ended, until the agents and their
// containerd have stopped.
//
// Stopping the server leaves its pods' containers running, as k3s does:
// their shims outlive containerd, and the next start adopts them. To
// remove them, delete the pods (or drain the node) before stopping.
func startServerAgents(ctx context.Context, p *pki.ServerPKI, opts ServerOptions) (wait func()) {
	if opts.DisableAgent && opts.SimulateNodes == 0 {
		return func() {}
	}
	aopts := AgentOptions{
		DataDir: opts.DataDir, NodeName: opts.NodeName, ContainerRuntimeEndpoint: opts.ContainerRuntimeEndpoint,
		Simulate: opts.SimulateNodes, NoLocalNode: opts.DisableAgent,
		NodeIP: opts.NodeIP, PodCIDR: opts.PodCIDR, BridgeName: opts.BridgeName, ImageGC: opts.ImageGC,
		PodMaxPids: opts.PodMaxPids,
		Serving:    ServingIdentity{CA: p.CA},
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := runAgents(ctx, aopts, nodeComponentConfig(p), false); err != nil && ctx.Err() == nil {
			slog.Error("node agent not running: this server has no node of its own (use --disable-agent to run without one)", "err", err)
		}
	}()
	return func() { <-done }
}
