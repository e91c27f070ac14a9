package app

import (
	"context"
	"fmt"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"skiff.dev/skiff/internal/apiserver"
	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/authz"
	"skiff.dev/skiff/internal/auth/node"
	"skiff.dev/skiff/internal/auth/rbac"
	"skiff.dev/skiff/internal/auth/rbac/aggregation"
	"skiff.dev/skiff/internal/auth/rbac/bootstrap"
	"skiff.dev/skiff/internal/registry"
	"skiff.dev/skiff/internal/registry/accessreview"
)

// rbacWiring is RBAC authorization for the API server:
// authorization = Union{Superusers(system:masters), Node, RBAC} (upstream's
// --authorization-mode=Node,RBAC), RBAC reading roles and bindings and the
// Node authorizer pods and claims from the server's own watch cache; the access review
// APIs; escalation checks on RBAC writes; impersonation; and, at start,
// the bootstrap policy and the clusterrole-aggregation controller.
//
// Use: w := newRBACWiring(); pass w.resources(builtin.Resources()),
// w.authenticator() and w.authorizer to apiserver.New; serve
// w.handler(srv, x509Authenticator) instead of srv; call w.start after
// srv.Start.
type rbacWiring struct {
	source     *cachePolicy
	nodes      *cacheNodeObjects
	authorizer authz.Authorizer
	resolver   rbac.Resolver
	// bootstrapped is set once the bootstrap policy is reconciled.
	bootstrapped atomic.Bool
}

func newRBACWiring() *rbacWiring {
	src := &cachePolicy{}
	res := rbac.Resolver{Source: newIndexedPolicy(src)}
	nodes := &cacheNodeObjects{}
	return &rbacWiring{
		source:   src,
		nodes:    nodes,
		resolver: res,
		authorizer: authz.Union{
			authz.Superusers{Group: authn.GroupMasters},
			node.Authorizer{Objects: nodes, Rules: bootstrap.NodeRules()},
			rbac.Authorizer{Resolver: res},
		},
	}
}

// resources adds the review APIs to base and guards the RBAC resources
// with the escalation checks.
func (w *rbacWiring) resources(base []registry.Resource) []registry.Resource {
	guard := rbac.EscalationGuard{Resolver: w.resolver, Authorizer: w.authorizer}
	out := make([]registry.Resource, 0, len(base)+5)
	for _, r := range base {
		if r.GroupVersion == rbacv1.SchemeGroupVersion {
			r.Strategy = guarded(r.Strategy, guard)
		}
		out = append(out, r)
	}
	return append(out, accessreview.Resources(accessreview.Config{
		Authorizer: w.authorizer, Rules: w.resolver, SuperuserGroup: authn.GroupMasters,
	})...)
}

// start points RBAC at the server's caches, then reconciles the bootstrap
// policy and starts the aggregation controller, with admin (a member of
// system:masters).
func (w *rbacWiring) start(ctx context.Context, srv *apiserver.Server, admin *rest.Config) error {
	if err := w.source.bind(srv); err != nil {
		return err
	}
	if err := w.nodes.bind(srv); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return fmt.Errorf("rbac client: %w", err)
	}
	if err := bootstrap.Ensure(ctx, cs); err != nil {
		return fmt.Errorf("rbac bootstrap policy: %w", err)
	}
	w.bootstrapped.Store(true)
	if err := aggregation.Run(ctx, cs); err != nil {
		return fmt.Errorf("clusterrole aggregation: %w", err)
	}
	return nil
}

// cachePolicy is rbac.PolicySource over the API server's watch cache;
// empty until bound.
type cachePolicy struct{ c atomic.Pointer[policyCaches] }

type policyCaches struct{ roles, bindings, clusterRoles, clusterBindings apiserver.CachedObjects }

var _ rbac.PolicySource = (*cachePolicy)(nil)

func (p *cachePolicy) bind(srv *apiserver.Server) error {
	var c policyCaches
	for res, dst := range map[string]*apiserver.CachedObjects{
		"roles": &c.roles, "rolebindings": &c.bindings, "clusterroles": &c.clusterRoles, "clusterrolebindings": &c.clusterBindings,
	} {
		cached, err := srv.Cached(rbacv1.SchemeGroupVersion.WithResource(res))
		if err != nil {
			return err
		}
		*dst = cached
	}
	p.c.Store(&c)
	return nil
}

func (p *cachePolicy) ClusterRoleBindings() []*rbacv1.ClusterRoleBinding {
	c := p.c.Load()
	if c == nil {
		return nil
	}
	items := c.clusterBindings.List("")
	out := make([]*rbacv1.ClusterRoleBinding, 0, len(items))
	for _, o := range items {
		if b, ok := o.(*rbacv1.ClusterRoleBinding); ok {
			out = append(out, b)
		}
	}
	return out
}

func (p *cachePolicy) RoleBindings(namespace string) []*rbacv1.RoleBinding {
	c := p.c.Load()
	if c == nil || namespace == "" {
		return nil
	}
	items := c.bindings.List(namespace)
	out := make([]*rbacv1.RoleBinding, 0, len(items))
	for _, o := range items {
		if b, ok := o.(*rbacv1.RoleBinding); ok {
			out = append(out, b)
		}
	}
	return out
}

func (p *cachePolicy) ClusterRole(name string) (*rbacv1.ClusterRole, bool) {
	c := p.c.Load()
	if c == nil {
		return nil, false
	}
	o, ok := c.clusterRoles.Get("", name)
	r, isRole := o.(*rbacv1.ClusterRole)
	return r, ok && isRole
}

func (p *cachePolicy) Role(namespace, name string) (*rbacv1.Role, bool) {
	c := p.c.Load()
	if c == nil {
		return nil, false
	}
	o, ok := c.roles.Get(namespace, name)
	r, isRole := o.(*rbacv1.Role)
	return r, ok && isRole
}

// cacheNodeObjects is node.Objects over the API server's watch cache;
// empty until bound.
type cacheNodeObjects struct {
	c atomic.Pointer[nodeCaches]
}

type nodeCaches struct{ pods, claims apiserver.CachedObjects }

var _ node.Objects = (*cacheNodeObjects)(nil)

func (o *cacheNodeObjects) bind(srv *apiserver.Server) error {
	pods, err := srv.Cached(corev1.SchemeGroupVersion.WithResource("pods"))
	if err != nil {
		return err
	}
	claims, err := srv.Cached(corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims"))
	if err != nil {
		return err
	}
	o.c.Store(&nodeCaches{pods: pods, claims: claims})
	return nil
}

func (o *cacheNodeObjects) Pods(namespace string) []*corev1.Pod {
	c := o.c.Load()
	if c == nil {
		return nil
	}
	items := c.pods.List(namespace)
	out := make([]*corev1.Pod, 0, len(items))
	for _, it := range items {
		if p, ok := it.(*corev1.Pod); ok {
			out = append(out, p)
		}
	}
	return out
}

func (o *cacheNodeObjects) PersistentVolumeClaim(namespace, name string) (*corev1.PersistentVolumeClaim, bool) {
	c := o.c.Load()
	if c == nil {
		return nil, false
	}
	it, ok := c.claims.Get(namespace, name)
	pvc, isClaim := it.(*corev1.PersistentVolumeClaim)
	return pvc, ok && isClaim
}

// guarded adds the escalation checks (apiserver.WriteAdmitter) to an RBAC
// strategy, keeping the optional interfaces it has.
func guarded(s registry.Strategy, g rbac.EscalationGuard) registry.Strategy {
	mv, _ := s.(registry.MetaValidator)
	if tc, ok := s.(registry.TableConvertor); ok {
		return guardedTableStrategy{guardedStrategy{Strategy: s, MetaValidator: mv, EscalationGuard: g}, tc}
	}
	return guardedStrategy{Strategy: s, MetaValidator: mv, EscalationGuard: g}
}

type guardedStrategy struct {
	registry.Strategy
	registry.MetaValidator
	rbac.EscalationGuard
}

type guardedTableStrategy struct {
	guardedStrategy
	registry.TableConvertor
}

var (
	_ apiserver.WriteAdmitter = guardedStrategy{}
	_ registry.MetaValidator  = guardedStrategy{}
	_ registry.TableConvertor = guardedTableStrategy{}
)
