package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/skiff/internal/agent"
	"skiff.dev/skiff/internal/agent/containerd"
	agentruntime "skiff.dev/skiff/internal/agent/runtime"
	"skiff.dev/skiff/internal/agent/runtime/fake"
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
}

// NodeConfigFunc returns the client config a node authenticates with.
type NodeConfigFunc func(nodeName string) (*rest.Config, error)

// RunAgents runs the local node's agent and the simulated nodes until ctx
// ends. A local node whose runtime cannot start is an error; simulated
// nodes never fail to start.
func RunAgents(ctx context.Context, opts AgentOptions, nodeConfig NodeConfigFunc) error {
	if opts.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("node name: %w", err)
		}
		opts.NodeName = strings.ToLower(h)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	if opts.Simulate > 0 {
		if err := StartSimulatedNodes(ctx, &wg, opts.NodeName+"-sim", opts.Simulate, nodeConfig); err != nil {
			return err
		}
	}
	if !opts.NoLocalNode {
		wg.Go(func() {
			if err := runLocalNode(ctx, opts, nodeConfig); err != nil {
				errs <- err
			}
		})
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

// runLocalNode runs this machine's node on containerd: the configured
// CRI endpoint, or a containerd the agent starts and supervises.
func runLocalNode(ctx context.Context, opts AgentOptions, nodeConfig NodeConfigFunc) error {
	log := slog.Default().With("component", "agent", "node", opts.NodeName)
	cfg, err := nodeConfig(opts.NodeName)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	cidr, err := agent.SettlePodCIDR(ctx, client, opts.NodeName, "")
	if err != nil {
		return err
	}
	agentDir := filepath.Join(opts.DataDir, "agent")
	endpoint := opts.ContainerRuntimeEndpoint
	if endpoint == "" {
		proc, err := containerd.Start(ctx, containerd.Options{DataDir: opts.DataDir, PodCIDR: cidr.String(), Logger: log})
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
	a, err := agent.New(agent.Config{NodeName: opts.NodeName, Client: client, Runtime: rt, DataDir: agentDir, PodCIDR: cidr.String(), Log: slog.Default()})
	if err != nil {
		return err
	}
	return a.Run(ctx)
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
// and InternalIP 172.16.0.0 + i + 1.
func StartSimulatedNodes(ctx context.Context, wg *sync.WaitGroup, prefix string, n int, nodeConfig NodeConfigFunc) error {
	if n > 128*256 {
		return errors.New("at most 32768 simulated nodes")
	}
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		cfg, err := nodeConfig(name)
		if err != nil {
			return err
		}
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		cidr := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(128 + i/256), byte(i % 256), 0}), 24)
		ip := netip.AddrFrom4([4]byte{172, 16 + byte((i+1)>>16), byte((i + 1) >> 8), byte(i + 1)})
		a, err := agent.New(agent.Config{
			NodeName: name, Client: client, Runtime: fake.New(fake.Options{PodCIDR: cidr}),
			NodeIP: ip.String(), PodCIDR: cidr.String(), Machine: SimulatedMachine(name),
			Labels: map[string]string{"type": "simulated"},
			Log:    slog.Default(),
		})
		if err != nil {
			return err
		}
		wg.Go(func() {
			if err := a.Run(ctx); err != nil {
				slog.Error("simulated node stopped", "node", name, "err", err)
			}
		})
	}
	return nil
}

// nodeComponentConfig is a node's client config inside the server: a
// client certificate for system:node:<name> in system:nodes (and, until
// RBAC lands, system:masters), with upstream kubelet's default client
// rate limits.
func nodeComponentConfig(p *pki.ServerPKI) NodeConfigFunc {
	return func(name string) (*rest.Config, error) {
		user := "system:node:" + name
		certPEM, keyPEM, err := p.CA.SignClient(user, []string{"system:nodes", "system:masters"})
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
// is logged, not fatal: the control plane still serves.
func startServerAgents(ctx context.Context, p *pki.ServerPKI, opts ServerOptions) {
	if opts.DisableAgent && opts.SimulateNodes == 0 {
		return
	}
	aopts := AgentOptions{
		DataDir: opts.DataDir, NodeName: opts.NodeName, ContainerRuntimeEndpoint: opts.ContainerRuntimeEndpoint,
		Simulate: opts.SimulateNodes, NoLocalNode: opts.DisableAgent,
	}
	go func() {
		if err := RunAgents(ctx, aopts, nodeComponentConfig(p)); err != nil && ctx.Err() == nil {
			slog.Error("node agent not running: this server has no node of its own (use --disable-agent to run without one)", "err", err)
		}
	}()
}
