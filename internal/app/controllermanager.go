package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"

	"skiff.dev/skiff/internal/auth/pki"
	"skiff.dev/skiff/internal/controller/deployment"
	"skiff.dev/skiff/internal/controller/disruption"
	"skiff.dev/skiff/internal/controller/endpoints"
	"skiff.dev/skiff/internal/controller/endpointslice"
	"skiff.dev/skiff/internal/controller/garbagecollector"
	"skiff.dev/skiff/internal/controller/kubernetesendpoints"
	"skiff.dev/skiff/internal/controller/nodelifecycle"
	"skiff.dev/skiff/internal/controller/replicaset"
	"skiff.dev/skiff/internal/controller/resourcequota"
	"skiff.dev/skiff/internal/controller/rootcacertpublisher"
	"skiff.dev/skiff/internal/controller/serviceaccount"
	"skiff.dev/skiff/internal/controller/serviceaccounttoken"
)

// Upstream kube-controller-manager's lease and timings.
const (
	controllerManagerLease = "kube-controller-manager"
	cmLeaseDuration        = 15 * time.Second
	cmRenewDeadline        = 10 * time.Second
	cmRetryPeriod          = 2 * time.Second
)

// Worker counts: upstream's --concurrent-replicaset-syncs,
// --concurrent-deployment-syncs, --concurrent-gc-syncs,
// --concurrent-endpoint-syncs, --concurrent-service-endpoint-syncs and
// --concurrent-resource-quota-syncs defaults; upstream runs one
// service-account worker, and two each here for the node lifecycle and
// disruption controllers, which upstream runs on one loop each.
const (
	replicaSetWorkers     = 5
	deploymentWorkers     = 5
	gcWorkers             = 20
	endpointsWorkers      = 5
	endpointSliceWorkers  = 5
	serviceAccountWorkers = 1
	// upstream's --concurrent-serviceaccount-token-syncs
	serviceAccountTokenWorkers = 5
	nodeLifecycleWorkers       = 2
	// upstream's --concurrent-rootca-cert-publisher-syncs
	rootCACertPublisherWorkers = 1
	disruptionWorkers          = 2
	resourceQuotaWorkers       = 5
)

// APIServerEndpoint is where pods reach the API server: the address and
// port the default/kubernetes service's Endpoints and EndpointSlice list.
// A zero value leaves those objects alone.
type APIServerEndpoint struct {
	IP   string
	Port int32
}

// ControllerManagerOptions are what the controllers need beyond a client.
type ControllerManagerOptions struct {
	// UseServiceAccountCredentials is upstream's
	// --use-service-account-credentials: each controller runs as the
	// service account kube-system/<controller> with its
	// system:controller:<controller> role, and the controller manager's
	// own identity only lists and watches (the shared informers), elects
	// the leader and hands out those accounts' tokens. False: every
	// controller uses the controller manager's identity.
	UseServiceAccountCredentials bool
	// APIServer is listed by the default/kubernetes service's endpoints.
	APIServer APIServerEndpoint
	// APIServerConfig is the API server's own identity, which writes
	// those endpoints: upstream's API server reconciles them itself, with
	// its loopback client. Nil: the controller manager's identity.
	APIServerConfig *rest.Config
	// NodeLifecycle holds the node monitor's grace periods (zero:
	// upstream's 50 s, 60 s at startup, checked every 5 s).
	NodeLifecycle nodelifecycle.Config
	// TokenIssuer signs the legacy tokens of service-account-token
	// secrets, with RootCA (PEM) beside them; nil: no token controller.
	TokenIssuer serviceaccounttoken.Issuer
	RootCA      []byte
	// CA signs approved CSRs of the kubernetes.io signers (nil: no CSR
	// signer); ClusterSigningDuration caps their certificates (0: a year).
	CA                     *pki.CA
	ClusterSigningDuration time.Duration
	// Pods is the pod informer shared with the scheduler (nil: the
	// controllers' own).
	Pods *sharedPods
}

// runControllerManager runs the controllers (ReplicaSet, Deployment,
// garbage collector, Endpoints, EndpointSlice, the kubernetes service's
// endpoints at opts.APIServer, default ServiceAccounts, the kube-root-ca.crt
// config maps of opts.RootCA, node lifecycle
// with taint-based eviction, disruption budgets, resource quota usage,
// and startAppsControllers' StatefulSet, DaemonSet, Job, CronJob and
// TTL-after-finished controllers) while this server holds the
// kube-system/kube-controller-manager Lease, so that several servers
// never run them twice. cfg is the controller manager's own identity
// (system:kube-controller-manager): the lease, the shared informers and,
// unless opts.UseServiceAccountCredentials, the controllers' requests.
// Each term gets fresh informers and queues; a lost lease stops them. It
// returns at once.
func runControllerManager(ctx context.Context, cfg *rest.Config, opts ControllerManagerOptions, log *slog.Logger) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("controller manager client: %w", err)
	}
	var clients controllerClients = sharedClients{cfg: cfg}
	if opts.UseServiceAccountCredentials {
		clients = newServiceAccountClients(cfg, client.CoreV1())
	}
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	host, _ := os.Hostname()
	identity := host + "_" + string(uuid.NewUUID())
	lock := &resourcelock.LeaseLock{
		LeaseMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: controllerManagerLease},
		Client:    client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{
			Identity:      identity,
			EventRecorder: broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kube-controller-manager"}),
		},
	}
	lead := func(ctx context.Context) {
		log.Info("leading", "identity", identity)
		ids := &controllerIdentities{ctx: ctx, clients: clients}
		if err := startWorkloadControllers(ctx, client, ids, cfg, opts, log); err != nil {
			log.Error("controllers not started", "err", err)
		}
		<-ctx.Done()
	}
	go func() {
		defer broadcaster.Shutdown()
		for ctx.Err() == nil {
			leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
				Lock: lock, Name: controllerManagerLease, ReleaseOnCancel: true,
				LeaseDuration: cmLeaseDuration, RenewDeadline: cmRenewDeadline, RetryPeriod: cmRetryPeriod,
				Callbacks: leaderelection.LeaderCallbacks{OnStartedLeading: lead, OnStoppedLeading: func() {}},
			})
		}
	}()
	return nil
}

// controllerIdentity is one controller's client and the event recorders
// that write with it.
type controllerIdentity struct {
	config   *rest.Config
	client   kubernetes.Interface
	recorder func(component string) record.EventRecorder
}

// controllerIdentities builds each controller's identity for one
// leadership term; their event broadcasters stop with ctx.
type controllerIdentities struct {
	ctx     context.Context
	clients controllerClients
}

// get is the identity of the controller upstream names name.
func (ids *controllerIdentities) get(name string) (*controllerIdentity, error) {
	return newControllerIdentity(ids.ctx, ids.clients, name)
}

func newControllerIdentity(ctx context.Context, clients controllerClients, name string) (*controllerIdentity, error) {
	cfg, err := clients.Config(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("%s credentials: %w", name, err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s client: %w", name, err)
	}
	// Upstream gives each controller its own broadcaster, so its events
	// are written as the controller.
	b := record.NewBroadcaster(record.WithContext(ctx))
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	go func() { <-ctx.Done(); b.Shutdown() }()
	return &controllerIdentity{config: cfg, client: client, recorder: func(component string) record.EventRecorder {
		return b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
	}}, nil
}

// startWorkloadControllers builds the controllers, each with its own
// identity from ids, on a fresh informer factory of the controller
// manager's client, and runs them until ctx ends. cfg is the controller
// manager's own identity.
func startWorkloadControllers(ctx context.Context, client kubernetes.Interface, ids *controllerIdentities, cfg *rest.Config, opts ControllerManagerOptions, log *slog.Logger) error {
	factory := newInformerFactory(client)
	opts.Pods.attach(factory)
	id, err := ids.get("replicaset-controller")
	if err != nil {
		return err
	}
	rs, err := replicaset.New(id.client, factory, id.recorder("replicaset-controller"), log.With("controller", "replicaset"))
	if err != nil {
		return fmt.Errorf("replicaset controller: %w", err)
	}
	if id, err = ids.get("deployment-controller"); err != nil {
		return err
	}
	dc, err := deployment.New(id.client, factory, id.recorder("deployment-controller"), log.With("controller", "deployment"))
	if err != nil {
		return fmt.Errorf("deployment controller: %w", err)
	}
	if id, err = ids.get("generic-garbage-collector"); err != nil {
		return err
	}
	meta, err := metadata.NewForConfig(id.config)
	if err != nil {
		return fmt.Errorf("garbage collector metadata client: %w", err)
	}
	gc := garbagecollector.New(meta, id.client.Discovery(), log.With("controller", "garbagecollector"))
	if id, err = ids.get("endpoint-controller"); err != nil {
		return err
	}
	ep, err := endpoints.New(id.client, factory, id.recorder("endpoint-controller"), log.With("controller", "endpoint"))
	if err != nil {
		return fmt.Errorf("endpoints controller: %w", err)
	}
	if id, err = ids.get("endpointslice-controller"); err != nil {
		return err
	}
	eps, err := endpointslice.New(id.client, factory, id.recorder("endpoint-slice-controller"), log.With("controller", "endpointslice"))
	if err != nil {
		return fmt.Errorf("endpointslice controller: %w", err)
	}
	if id, err = ids.get("service-account-controller"); err != nil {
		return err
	}
	sa, err := serviceaccount.New(id.client, factory, log.With("controller", "serviceaccount"))
	if err != nil {
		return fmt.Errorf("serviceaccount controller: %w", err)
	}
	var rootCA *rootcacertpublisher.Publisher
	if len(opts.RootCA) > 0 {
		if id, err = ids.get("root-ca-cert-publisher"); err != nil {
			return err
		}
		if rootCA, err = rootcacertpublisher.New(id.client, factory, opts.RootCA, log.With("controller", "root-ca-cert-publisher")); err != nil {
			return fmt.Errorf("root-ca-cert-publisher controller: %w", err)
		}
	}
	var sat *serviceaccounttoken.Controller
	if opts.TokenIssuer != nil {
		// As upstream, the tokens controller keeps the controller
		// manager's own identity: it writes the secrets other service
		// accounts' credentials live in.
		if id, err = newControllerIdentity(ctx, sharedClients{cfg: cfg}, "tokens-controller"); err != nil {
			return err
		}
		if sat, err = serviceaccounttoken.New(id.client, factory, opts.TokenIssuer, opts.RootCA, log.With("controller", "serviceaccount-token")); err != nil {
			return fmt.Errorf("serviceaccount-token controller: %w", err)
		}
	}
	if id, err = ids.get("node-controller"); err != nil {
		return err
	}
	nl, err := nodelifecycle.New(id.client, factory, id.recorder("node-controller"), opts.NodeLifecycle, log.With("controller", "nodelifecycle"))
	if err != nil {
		return fmt.Errorf("node lifecycle controller: %w", err)
	}
	if id, err = ids.get("disruption-controller"); err != nil {
		return err
	}
	dis, err := disruption.New(id.client, factory, id.recorder("controllermanager"), log.With("controller", "disruption"))
	if err != nil {
		return fmt.Errorf("disruption controller: %w", err)
	}
	if id, err = ids.get("resourcequota-controller"); err != nil {
		return err
	}
	rq, err := resourcequota.New(id.client, factory, log.With("controller", "resourcequota"))
	if err != nil {
		return fmt.Errorf("resourcequota controller: %w", err)
	}
	var kep *kubernetesendpoints.Controller
	if opts.APIServer.IP != "" {
		apiCfg := opts.APIServerConfig
		if apiCfg == nil {
			apiCfg = cfg
		}
		apiClient, err := kubernetes.NewForConfig(apiCfg)
		if err != nil {
			return fmt.Errorf("kubernetes service endpoints client: %w", err)
		}
		kep, err = kubernetesendpoints.New(apiClient, factory, opts.APIServer.IP, opts.APIServer.Port, log.With("controller", "kubernetes-endpoints"))
		if err != nil {
			// A loopback address is no reason to stop the other
			// controllers: only the kubernetes service goes without
			// endpoints.
			log.Error("kubernetes service endpoints not managed", "err", err)
			kep = nil
		}
	}
	if err := startAppsControllers(ctx, ids, factory, log); err != nil {
		return err
	}
	if err := startCertificateControllers(ctx, ids, factory, opts, log); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	go func() { _ = rs.Run(ctx, replicaSetWorkers) }()
	go func() { _ = dc.Run(ctx, deploymentWorkers) }()
	go func() { _ = gc.Run(ctx, gcWorkers) }()
	go func() { _ = ep.Run(ctx, endpointsWorkers) }()
	go func() { _ = eps.Run(ctx, endpointSliceWorkers) }()
	go func() { _ = sa.Run(ctx, serviceAccountWorkers) }()
	if sat != nil {
		go func() { _ = sat.Run(ctx, serviceAccountTokenWorkers) }()
	}
	if rootCA != nil {
		go func() { _ = rootCA.Run(ctx, rootCACertPublisherWorkers) }()
	}
	go func() { _ = nl.Run(ctx, nodeLifecycleWorkers) }()
	go func() { _ = dis.Run(ctx, disruptionWorkers) }()
	go func() { _ = rq.Run(ctx, resourceQuotaWorkers) }()
	if kep != nil {
		go func() { _ = kep.Run(ctx) }()
	}
	go func() { <-ctx.Done(); factory.Shutdown() }()
	return nil
}
