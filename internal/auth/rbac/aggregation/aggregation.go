// Package aggregation is upstream's clusterrole-aggregation controller: a
// ClusterRole with an aggregationRule gets the union of the rules of every
// ClusterRole its selectors match (admin, edit and view are built so), and
// keeps it as those roles change.
package aggregation

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sort"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Rules returns the rules an aggregated role should have: the rules of the
// other roles its selectors match, in role-name order, without duplicates.
// It is pure; roles is every ClusterRole.
func Rules(role *rbacv1.ClusterRole, roles []*rbacv1.ClusterRole) ([]rbacv1.PolicyRule, error) {
	matched := map[string]*rbacv1.ClusterRole{}
	for _, sel := range role.AggregationRule.ClusterRoleSelectors {
		s, err := metav1.LabelSelectorAsSelector(&sel)
		if err != nil {
			return nil, fmt.Errorf("clusterrole %s: selector: %w", role.Name, err)
		}
		for _, c := range roles {
			if c.Name != role.Name && s.Matches(labels.Set(c.Labels)) {
				matched[c.Name] = c
			}
		}
	}
	names := make([]string, 0, len(matched))
	for n := range matched {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []rbacv1.PolicyRule
	for _, n := range names {
		for _, rule := range matched[n].Rules {
			dup := false
			for i := range out {
				if reflect.DeepEqual(out[i], rule) {
					dup = true
					break
				}
			}
			if !dup {
				out = append(out, *rule.DeepCopy())
			}
		}
	}
	return out, nil
}

// Run keeps aggregated cluster roles up to date until ctx ends. Any change
// to any ClusterRole triggers a pass over all aggregated ones; a role fed
// by another aggregated role converges over successive passes.
func Run(ctx context.Context, cs kubernetes.Interface) error {
	factory := informers.NewSharedInformerFactory(cs, 0)
	inf := factory.Rbac().V1().ClusterRoles()
	kick := make(chan struct{}, 1)
	notify := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}); err != nil {
		return fmt.Errorf("watch clusterroles: %w", err)
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		return ctx.Err()
	}
	lister := inf.Lister()
	go func() {
		defer factory.Shutdown()
		for {
			select {
			case <-ctx.Done():
				return
			case <-kick:
			}
			roles, err := lister.List(labels.Everything())
			if err != nil {
				continue
			}
			for _, role := range roles {
				if role.AggregationRule == nil {
					continue
				}
				rules, err := Rules(role, roles)
				if err != nil {
					slog.Warn("clusterrole aggregation", "clusterrole", role.Name, "err", err)
					continue
				}
				if equalRules(rules, role.Rules) {
					continue
				}
				next := role.DeepCopy()
				next.Rules = rules
				if _, err := cs.RbacV1().ClusterRoles().Update(ctx, next, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
					// A conflict comes back as an informer event,
					// which starts another pass.
					slog.Warn("clusterrole aggregation: update", "clusterrole", role.Name, "err", err)
				}
			}
		}
	}()
	return nil
}

func equalRules(a, b []rbacv1.PolicyRule) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}
