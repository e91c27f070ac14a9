package app

import (
	"sync/atomic"

	rbacv1 "k8s.io/api/rbac/v1"

	"skiff.dev/skiff/internal/auth/authn"
	"skiff.dev/skiff/internal/auth/rbac"
)

// indexedPolicy adds rbac.SubjectIndexed to the cache-backed policy: the
// bindings indexed by subject, rebuilt when the watch cache's generation
// of the bindings moves (an RBAC write), so that a request looks at the
// few bindings naming its user and groups instead of listing them all.
type indexedPolicy struct {
	*cachePolicy
	cluster    atomic.Pointer[clusterBindingIndex]
	namespaced atomic.Pointer[roleBindingIndex]
}

type clusterBindingIndex struct {
	gen uint64
	ix  *rbac.BindingIndex[*rbacv1.ClusterRoleBinding]
}

type roleBindingIndex struct {
	gen  uint64
	byNS map[string]*rbac.BindingIndex[*rbacv1.RoleBinding]
}

var _ rbac.SubjectIndexed = (*indexedPolicy)(nil)

func newIndexedPolicy(p *cachePolicy) *indexedPolicy { return &indexedPolicy{cachePolicy: p} }

// ClusterRoleBindingsFor implements rbac.SubjectIndexed.
func (p *indexedPolicy) ClusterRoleBindingsFor(user *authn.User) []*rbacv1.ClusterRoleBinding {
	c := p.c.Load()
	if c == nil {
		return nil
	}
	gen := c.clusterBindings.Generation()
	cur := p.cluster.Load()
	if cur == nil || cur.gen != gen {
		cur = &clusterBindingIndex{gen: gen, ix: rbac.NewClusterRoleBindingIndex(p.ClusterRoleBindings())}
		p.cluster.Store(cur)
	}
	return cur.ix.For(user)
}

// RoleBindingsFor implements rbac.SubjectIndexed.
func (p *indexedPolicy) RoleBindingsFor(user *authn.User, namespace string) []*rbacv1.RoleBinding {
	c := p.c.Load()
	if c == nil || namespace == "" {
		return nil
	}
	gen := c.bindings.Generation()
	cur := p.namespaced.Load()
	if cur == nil || cur.gen != gen {
		byNS := map[string][]*rbacv1.RoleBinding{}
		for _, o := range c.bindings.List("") {
			if b, ok := o.(*rbacv1.RoleBinding); ok {
				byNS[b.Namespace] = append(byNS[b.Namespace], b)
			}
		}
		cur = &roleBindingIndex{gen: gen, byNS: make(map[string]*rbac.BindingIndex[*rbacv1.RoleBinding], len(byNS))}
		for ns, list := range byNS {
			cur.byNS[ns] = rbac.NewRoleBindingIndex(list)
		}
		p.namespaced.Store(cur)
	}
	return cur.byNS[namespace].For(user)
}
