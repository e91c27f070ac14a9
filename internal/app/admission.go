package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/admission/certificates"
	admissionconfig "skiff.dev/skiff/internal/admission/config"
	"skiff.dev/skiff/internal/admission/defaultstorageclass"
	"skiff.dev/skiff/internal/admission/defaulttolerationseconds"
	"skiff.dev/skiff/internal/admission/denyserviceexternalips"
	"skiff.dev/skiff/internal/admission/eventratelimit"
	"skiff.dev/skiff/internal/admission/limitranger"
	"skiff.dev/skiff/internal/admission/namespacelifecycle"
	"skiff.dev/skiff/internal/admission/noderestriction"
	"skiff.dev/skiff/internal/admission/podsecurity"
	"skiff.dev/skiff/internal/admission/policy"
	"skiff.dev/skiff/internal/admission/priority"
	"skiff.dev/skiff/internal/admission/resourcequota"
	"skiff.dev/skiff/internal/admission/serviceaccount"
	"skiff.dev/skiff/internal/admission/webhook"
	"skiff.dev/skiff/internal/apiserver"
	"skiff.dev/skiff/internal/auth/authz"
	"skiff.dev/skiff/internal/registry"
	"skiff.dev/skiff/internal/registry/builtin"
	"skiff.dev/skiff/internal/registry/scheduling"
)

// AdmissionOptions are `skiff server`'s admission flags.
type AdmissionOptions struct {
	// EnablePlugins and DisablePlugins are upstream's
	// --enable-admission-plugins and --disable-admission-plugins: names
	// added to or taken from the plug-ins on by default (all of
	// AdmissionPlugins). The chain's order is fixed, whatever the flags'.
	EnablePlugins, DisablePlugins []string
	// NotReadyTolerationSeconds and UnreachableTolerationSeconds are
	// DefaultTolerationSeconds' bounds; 0 means upstream's 300.
	NotReadyTolerationSeconds, UnreachableTolerationSeconds int64
	// ConfigFile is upstream's --admission-control-config-file: an
	// AdmissionConfiguration configuring PodSecurity and EventRateLimit.
	// Empty: Skiff's defaults (podsecurity.DefaultConfig,
	// eventratelimit.DefaultLimits).
	ConfigFile string
}

// pluginSettings are the plug-ins' settings after the configuration file.
type pluginSettings struct {
	podSecurity podsecurity.Config
	eventLimits []eventratelimit.Limit
	// ignored are the plug-ins the file configures that take no
	// settings.
	ignored []string
}

// loadPluginSettings reads opts.ConfigFile over Skiff's defaults. An
// unreadable or malformed file, an unknown plug-in or a bad plug-in
// configuration is an error: the server must not start with settings
// other than those asked for.
func loadPluginSettings(opts AdmissionOptions) (pluginSettings, error) {
	ps := pluginSettings{podSecurity: podsecurity.DefaultConfig(), eventLimits: eventratelimit.DefaultLimits()}
	if opts.ConfigFile == "" {
		return ps, nil
	}
	f, err := admissionconfig.Load(opts.ConfigFile, AdmissionPlugins)
	if err != nil {
		return ps, err
	}
	for _, name := range f.Names() {
		doc, _ := f.Plugin(name)
		source := fmt.Sprintf("%s (plug-in %s)", f.Path, name)
		switch name {
		case podsecurity.PluginName:
			if ps.podSecurity, err = podsecurity.ParseConfig(source, doc); err != nil {
				return ps, err
			}
		case eventratelimit.Name:
			if ps.eventLimits, err = eventratelimit.ParseConfig(source, doc); err != nil {
				return ps, err
			}
		default:
			// Upstream's plug-ins without settings ignore theirs too.
			ps.ignored = append(ps.ignored, name)
		}
	}
	return ps, nil
}

// AdmissionPlugins are the plug-ins Skiff has, in the chain's order, all
// on by default. Upstream's recommended order: the mutating plug-ins
// before the validating ones; EventRateLimit early, so a refused event
// takes nothing else; ValidatingAdmissionPolicy after the built-in
// validators (and before ValidatingAdmissionWebhook); the webhooks after
// the built-in plug-ins of their kind; ResourceQuota last, since it
// charges the quota for a write no later plug-in may then refuse.
var AdmissionPlugins = []string{
	namespacelifecycle.Name,
	eventratelimit.Name,
	limitranger.Name,
	serviceaccount.Name,
	noderestriction.Name,
	priority.Name,
	defaulttolerationseconds.Name,
	defaultstorageclass.Name,
	podsecurity.PluginName,
	certificates.ApprovalName,
	certificates.SigningName,
	certificates.SubjectRestrictionName,
	denyserviceexternalips.Name,
	webhook.MutatingName,
	policy.PluginName,
	webhook.ValidatingName,
	resourcequota.Name,
}

// enabledAdmissionPlugins applies the flags to the default set.
func enabledAdmissionPlugins(opts AdmissionOptions) (map[string]bool, error) {
	on := map[string]bool{}
	for _, n := range AdmissionPlugins {
		on[n] = true
	}
	for _, set := range []struct {
		names []string
		value bool
	}{{opts.EnablePlugins, true}, {opts.DisablePlugins, false}} {
		for _, n := range set.names {
			if n = strings.TrimSpace(n); n == "" {
				continue
			}
			if !slices.Contains(AdmissionPlugins, n) {
				return nil, fmt.Errorf("admission plug-in %q is not known (known: %s)", n, strings.Join(AdmissionPlugins, ", "))
			}
			on[n] = set.value
		}
	}
	return on, nil
}

// admissionCaches are the API server's watch caches the admission
// plug-ins read, and the client ResourceQuota charges quotas with. The
// chain is built before the server exists, so the caches are bound just
// after apiserver.New (bind), the client once the server serves (start);
// before that they are empty.
type admissionCaches struct {
	podSecurity podsecurity.CachedObjects

	limitRanges, priorityClasses, storageClasses, quotas lazyObjects
	quotaStore                                           clientQuotaStore
	serviceAccounts                                      serviceAccountLookup
	nodeRestriction                                      nodeRestrictionObjects
	// authorizer answers ValidatingAdmissionPolicy's CEL authorizer
	// checks and the certificate plug-ins' approve and sign checks (the
	// server's RBAC and Node authorizers); nil: such checks fail to
	// evaluate, and no CSR can be approved or signed.
	authorizer authz.Authorizer

	policies, policyBindings, policyNamespaces policy.LazyObjects
	policyParams                               policy.ServedParams

	webhookCaches
}

// bind points the plug-ins at srv's caches.
func (c *admissionCaches) bind(srv *apiserver.Server) error {
	namespaces, err := srv.Cached(corev1.SchemeGroupVersion.WithResource("namespaces"))
	if err != nil {
		return err
	}
	pods, err := srv.Cached(corev1.SchemeGroupVersion.WithResource("pods"))
	if err != nil {
		return err
	}
	c.podSecurity.Bind(namespaces, pods)
	if err := c.serviceAccounts.bind(srv); err != nil {
		return err
	}
	if err := c.nodeRestriction.bind(srv); err != nil {
		return err
	}
	for gvr, dst := range map[schema.GroupVersionResource]*lazyObjects{
		corev1.SchemeGroupVersion.WithResource("limitranges"):           &c.limitRanges,
		corev1.SchemeGroupVersion.WithResource("resourcequotas"):        &c.quotas,
		schedulingv1.SchemeGroupVersion.WithResource("priorityclasses"): &c.priorityClasses,
		storagev1.SchemeGroupVersion.WithResource("storageclasses"):     &c.storageClasses,
	} {
		cached, err := srv.Cached(gvr)
		if err != nil {
			return err
		}
		dst.c.Store(&cached)
	}
	for gvr, dst := range map[schema.GroupVersionResource]*policy.LazyObjects{
		admissionregistrationv1.SchemeGroupVersion.WithResource("validatingadmissionpolicies"):       &c.policies,
		admissionregistrationv1.SchemeGroupVersion.WithResource("validatingadmissionpolicybindings"): &c.policyBindings,
		corev1.SchemeGroupVersion.WithResource("namespaces"):                                         &c.policyNamespaces,
	} {
		cached, err := srv.Cached(gvr)
		if err != nil {
			return err
		}
		dst.Bind(cached)
	}
	if err := c.webhookCaches.bind(srv); err != nil {
		return err
	}
	c.policyParams.Bind(builtin.Resources(), func(gvr schema.GroupVersionResource) (policy.Objects, error) {
		cached, err := srv.Cached(gvr)
		if err != nil {
			return nil, err
		}
		return cached, nil
	})
	return nil
}

// start gives ResourceQuota its client, starts the type checker of
// ValidatingAdmissionPolicies, and creates the built-in
// PriorityClasses (system-node-critical, system-cluster-critical) as
// upstream's API server does at start. admin is a system:masters config.
func (c *admissionCaches) start(ctx context.Context, admin *rest.Config) error {
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return fmt.Errorf("admission client: %w", err)
	}
	c.quotaStore.cs.Store(cs)
	c.serviceAccounts.cs.Store(cs)
	// status.typeChecking of ValidatingAdmissionPolicies, as upstream's
	// API server keeps it.
	go func() {
		tc := &policy.TypeChecker{Client: cs, Resources: builtin.Resources()}
		if err := tc.Run(ctx); err != nil && ctx.Err() == nil {
			slog.Error("validating admission policy type checker stopped", "err", err)
		}
	}()
	for _, pc := range scheduling.SystemPriorityClasses() {
		_, err := cs.SchedulingV1().PriorityClasses().Create(ctx, pc, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create priority class %s: %w", pc.Name, err)
		}
	}
	return nil
}

// newAdmission is the admission chain of `skiff server`: the enabled
// plug-ins, in AdmissionPlugins' order.
func newAdmission(caches *admissionCaches, opts AdmissionOptions) (*admission.Chain, error) {
	on, err := enabledAdmissionPlugins(opts)
	if err != nil {
		return nil, err
	}
	notReady, unreachable := opts.NotReadyTolerationSeconds, opts.UnreachableTolerationSeconds
	if notReady == 0 {
		notReady = defaulttolerationseconds.DefaultSeconds
	}
	if unreachable == 0 {
		unreachable = defaulttolerationseconds.DefaultSeconds
	}
	settings, err := loadPluginSettings(opts)
	if err != nil {
		return nil, err
	}
	for _, name := range settings.ignored {
		slog.Warn("admission plug-in takes no configuration; its entry is ignored", "plugin", name, "file", opts.ConfigFile)
	}
	events, err := eventratelimit.New(settings.eventLimits, nil)
	if err != nil {
		return nil, err
	}
	vap := policy.New(&caches.policies, &caches.policyBindings, &caches.policyNamespaces, &caches.policyParams)
	// CEL's authorizer library asks the API server's own authorizer.
	vap.Authorizer = caches.authorizer
	all := map[string]admission.Plugin{
		namespacelifecycle.Name:             namespacelifecycle.Plugin{},
		eventratelimit.Name:                 events,
		limitranger.Name:                    limitranger.Plugin{LimitRanges: &caches.limitRanges},
		serviceaccount.Name:                 serviceaccount.Plugin{Accounts: &caches.serviceAccounts},
		noderestriction.Name:                noderestriction.Plugin{Objects: &caches.nodeRestriction},
		priority.Name:                       priority.Plugin{Classes: &caches.priorityClasses},
		defaulttolerationseconds.Name:       defaulttolerationseconds.Plugin{NotReadySeconds: notReady, UnreachableSeconds: unreachable},
		defaultstorageclass.Name:            defaultstorageclass.Plugin{StorageClasses: &caches.storageClasses},
		podsecurity.PluginName:              podsecurity.New(settings.podSecurity, &caches.podSecurity),
		certificates.ApprovalName:           certificates.Approval{Authorizer: caches.authorizer},
		certificates.SigningName:            certificates.Signing{Authorizer: caches.authorizer},
		certificates.SubjectRestrictionName: certificates.SubjectRestriction{},
		denyserviceexternalips.Name:         denyserviceexternalips.Plugin{},
		policy.PluginName:                   vap,
		resourcequota.Name:                  resourcequota.Plugin{Quotas: &caches.quotas, Store: &caches.quotaStore},
		webhook.MutatingName:                webhook.NewMutating(caches.webhookSources(&caches.mutatingWebhooks), resourceDefaults(builtin.Resources())),
		webhook.ValidatingName:              webhook.NewValidating(caches.webhookSources(&caches.validatingWebhooks)),
	}
	var plugins []admission.Plugin
	for _, n := range AdmissionPlugins {
		if on[n] {
			plugins = append(plugins, all[n])
		}
	}
	return admission.NewChain(plugins...), nil
}

// webhookCaches are the caches the webhook plug-ins read.
type webhookCaches struct {
	mutatingWebhooks, validatingWebhooks, webhookNamespaces, services, endpointSlices lazyObjects
}

func (c *webhookCaches) bind(srv *apiserver.Server) error {
	for gvr, dst := range map[schema.GroupVersionResource]*lazyObjects{
		admissionregistrationv1.SchemeGroupVersion.WithResource("mutatingwebhookconfigurations"):   &c.mutatingWebhooks,
		admissionregistrationv1.SchemeGroupVersion.WithResource("validatingwebhookconfigurations"): &c.validatingWebhooks,
		corev1.SchemeGroupVersion.WithResource("namespaces"):                                       &c.webhookNamespaces,
		corev1.SchemeGroupVersion.WithResource("services"):                                         &c.services,
		discoveryv1.SchemeGroupVersion.WithResource("endpointslices"):                              &c.endpointSlices,
	} {
		cached, err := srv.Cached(gvr)
		if err != nil {
			return err
		}
		dst.c.Store(&cached)
	}
	return nil
}

// webhookSources are the caches a webhook plug-in reads, with configs its
// kind of configurations.
func (c *webhookCaches) webhookSources(configs *lazyObjects) webhook.Sources {
	return webhook.Sources{Configurations: configs, Namespaces: &c.webhookNamespaces, Services: &c.services, EndpointSlices: &c.endpointSlices}
}

// resourceDefaults applies the served resources' defaults to an object a
// mutating webhook patched, as upstream decodes it with defaulting.
func resourceDefaults(resources []registry.Resource) webhook.Defaulter {
	strategies := map[schema.GroupVersionResource]registry.Strategy{}
	for i := range resources {
		strategies[resources[i].GroupVersionResource()] = resources[i].Strategy
	}
	return func(gvr schema.GroupVersionResource, obj runtime.Object) {
		if s := strategies[gvr]; s != nil {
			s.Default(obj)
		}
	}
}

// lazyObjects is one resource's watch cache, empty until bound.
type lazyObjects struct {
	c atomic.Pointer[apiserver.CachedObjects]
}

func (l *lazyObjects) List(namespace string) []runtime.Object {
	if c := l.c.Load(); c != nil {
		return c.List(namespace)
	}
	return nil
}

func (l *lazyObjects) Get(namespace, name string) (runtime.Object, bool) {
	if c := l.c.Load(); c != nil {
		return c.Get(namespace, name)
	}
	return nil, false
}

// clientQuotaStore is resourcequota.Store through the API (status
// updates carry the resourceVersion, so they are compare-and-swap).
type clientQuotaStore struct {
	cs atomic.Pointer[kubernetes.Clientset]
}

var _ resourcequota.Store = (*clientQuotaStore)(nil)

func (s *clientQuotaStore) client() (*kubernetes.Clientset, error) {
	cs := s.cs.Load()
	if cs == nil {
		return nil, apierrors.NewServiceUnavailable("resource quota admission is starting")
	}
	return cs, nil
}

func (s *clientQuotaStore) Get(ctx context.Context, namespace, name string) (*corev1.ResourceQuota, error) {
	cs, err := s.client()
	if err != nil {
		return nil, err
	}
	return cs.CoreV1().ResourceQuotas(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (s *clientQuotaStore) UpdateStatus(ctx context.Context, q *corev1.ResourceQuota) error {
	cs, err := s.client()
	if err != nil {
		return err
	}
	_, err = cs.CoreV1().ResourceQuotas(q.Namespace).UpdateStatus(ctx, q, metav1.UpdateOptions{})
	return err
}
