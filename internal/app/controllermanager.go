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
	// APIServer is listed by the default/kubernetes service's endpoints.
	APIServer APIServerEndpoint
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
// TTL-after-finished controllers) as cfg's user while this server holds
// the kube-system/kube-controller-manager Lease, so that several servers
// never run them twice. Each term gets fresh informers and queues; a lost
// lease stops them. It returns at once.
func runControllerManager(ctx context.Context, cfg *rest.Config, opts ControllerManagerOptions, log *slog.Logger) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("controller manager client: %w", err)
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("controller manager metadata client: %w", err)
	}
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	recorder := func(component string) record.EventRecorder {
		return broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
	}
	host, _ := os.Hostname()
	identity := host + "_" + string(uuid.NewUUID())
	lock := &resourcelock.LeaseLock{
		LeaseMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: controllerManagerLease},
		Client:    client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{
			Identity: identity, EventRecorder: recorder("kube-controller-manager"),
		},
	}
	lead := func(ctx context.Context) {
		log.Info("leading", "identity", identity)
		if err := startWorkloadControllers(ctx, client, meta, recorder, opts, log); err != nil {
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

// startWorkloadControllers builds the controllers on a fresh informer
// factory and runs them until ctx ends.
func startWorkloadControllers(ctx context.Context, client kubernetes.Interface, meta metadata.Interface, recorder func(string) record.EventRecorder, opts ControllerManagerOptions, log *slog.Logger) error {
	factory := newInformerFactory(client)
	opts.Pods.attach(factory)
	rs, err := replicaset.New(client, factory, recorder("replicaset-controller"), log.With("controller", "replicaset"))
	if err != nil {
		return fmt.Errorf("replicaset controller: %w", err)
	}
	dc, err := deployment.New(client, factory, recorder("deployment-controller"), log.With("controller", "deployment"))
	if err != nil {
		return fmt.Errorf("deployment controller: %w", err)
	}
	gc := garbagecollector.New(meta, client.Discovery(), log.With("controller", "garbagecollector"))
	ep, err := endpoints.New(client, factory, recorder("endpoint-controller"), log.With("controller", "endpoint"))
	if err != nil {
		return fmt.Errorf("endpoints controller: %w", err)
	}
	eps, err := endpointslice.New(client, factory, recorder("endpoint-slice-controller"), log.With("controller", "endpointslice"))
	if err != nil {
		return fmt.Errorf("endpointslice controller: %w", err)
	}
	sa, err := serviceaccount.New(client, factory, log.With("controller", "serviceaccount"))
	if err != nil {
		return fmt.Errorf("serviceaccount controller: %w", err)
	}
	var rootCA *rootcacertpublisher.Publisher
	if len(opts.RootCA) > 0 {
		if rootCA, err = rootcacertpublisher.New(client, factory, opts.RootCA, log.With("controller", "root-ca-cert-publisher")); err != nil {
			return fmt.Errorf("root-ca-cert-publisher controller: %w", err)
		}
	}
	var sat *serviceaccounttoken.Controller
	if opts.TokenIssuer != nil {
		if sat, err = serviceaccounttoken.New(client, factory, opts.TokenIssuer, opts.RootCA, log.With("controller", "serviceaccount-token")); err != nil {
			return fmt.Errorf("serviceaccount-token controller: %w", err)
		}
	}
	nl, err := nodelifecycle.New(client, factory, recorder("node-controller"), opts.NodeLifecycle, log.With("controller", "nodelifecycle"))
	if err != nil {
		return fmt.Errorf("node lifecycle controller: %w", err)
	}
	dis, err := disruption.New(client, factory, recorder("controllermanager"), log.With("controller", "disruption"))
	if err != nil {
		return fmt.Errorf("disruption controller: %w", err)
	}
	rq, err := resourcequota.New(client, factory, log.With("controller", "resourcequota"))
	if err != nil {
		return fmt.Errorf("resourcequota controller: %w", err)
	}
	var kep *kubernetesendpoints.Controller
	if opts.APIServer.IP != "" {
		kep, err = kubernetesendpoints.New(client, factory, opts.APIServer.IP, opts.APIServer.Port, log.With("controller", "kubernetes-endpoints"))
		if err != nil {
			// A loopback address is no reason to stop the other
			// controllers: only the kubernetes service goes without
			// endpoints.
			log.Error("kubernetes service endpoints not managed", "err", err)
			kep = nil
		}
	}
	if err := startAppsControllers(ctx, client, factory, recorder, log); err != nil {
		return err
	}
	if err := startCertificateControllers(ctx, client, factory, opts, log); err != nil {
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
