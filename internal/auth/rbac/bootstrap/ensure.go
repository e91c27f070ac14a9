package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	rbacclient "k8s.io/client-go/kubernetes/typed/rbac/v1"

	"skiff.dev/skiff/internal/auth/rbac"
)

// Ensure creates the bootstrap cluster roles and bindings that are
// missing and reconciles existing ones as upstream's API server does at
// start: unless annotated autoupdate "false", a role gains the rules,
// aggregation selectors, labels and annotations it lacks and a binding the
// subjects it lacks (nothing is removed); a binding to another role is
// recreated. The same goes for the roles and bindings upstream keeps in
// kube-system (NamespaceRoles). cs must act as a member of system:masters.
//
// What exists is read with one list per kind, and the objects are written
// concurrently: on a first start that is about 80 creates, and concurrent
// writers share the store's fsyncs where one after the other would each
// wait for their own.
func Ensure(ctx context.Context, cs kubernetes.Interface) error {
	api := cs.RbacV1()
	roles, err := api.ClusterRoles().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list clusterroles: %w", err)
	}
	haveRoles := make(map[string]*rbacv1.ClusterRole, len(roles.Items))
	for i := range roles.Items {
		haveRoles[roles.Items[i].Name] = &roles.Items[i]
	}
	bindings, err := api.ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list clusterrolebindings: %w", err)
	}
	haveBindings := make(map[string]*rbacv1.ClusterRoleBinding, len(bindings.Items))
	for i := range bindings.Items {
		haveBindings[bindings.Items[i].Name] = &bindings.Items[i]
	}
	// Nothing here depends on another write (a binding may name a role
	// that does not exist yet), so every write goes out at once.
	var tasks []func() error
	for _, want := range ClusterRoles() {
		tasks = append(tasks, func() error { return ensureClusterRole(ctx, api, haveRoles[want.Name], &want) })
	}
	for _, want := range ClusterRoleBindings() {
		tasks = append(tasks, func() error { return ensureClusterRoleBinding(ctx, api, haveBindings[want.Name], &want) })
	}
	for _, want := range NamespaceRoles() {
		tasks = append(tasks, func() error { return ensureRole(ctx, api, &want) })
	}
	for _, want := range NamespaceRoleBindings() {
		tasks = append(tasks, func() error { return ensureRoleBinding(ctx, api, &want) })
	}
	return concurrently(tasks)
}

// writers bounds Ensure's concurrent writes (about 80 on a first start,
// well under an HTTP/2 connection's stream limit).
const writers = 128

// concurrently runs the tasks, at most writers at a time, and returns
// their errors joined.
func concurrently(tasks []func() error) error {
	sem := make(chan struct{}, writers)
	errs := make([]error, len(tasks))
	var wg sync.WaitGroup
	for i, task := range tasks {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = task()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func ensureClusterRole(ctx context.Context, api rbacclient.RbacV1Interface, cur, want *rbacv1.ClusterRole) error {
	if cur == nil {
		if _, err := api.ClusterRoles().Create(ctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create clusterrole %s: %w", want.Name, err)
		}
		return nil
	}
	if cur.Annotations[AutoUpdateAnnotation] == "false" {
		return nil
	}
	if next, changed := reconcileRole(cur, want); changed {
		if _, err := api.ClusterRoles().Update(ctx, next, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("reconcile clusterrole %s: %w", want.Name, err)
		}
	}
	return nil
}

func ensureClusterRoleBinding(ctx context.Context, api rbacclient.RbacV1Interface, cur, want *rbacv1.ClusterRoleBinding) error {
	if cur == nil {
		if _, err := api.ClusterRoleBindings().Create(ctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create clusterrolebinding %s: %w", want.Name, err)
		}
		return nil
	}
	if cur.Annotations[AutoUpdateAnnotation] == "false" {
		return nil
	}
	if cur.RoleRef != want.RoleRef {
		// roleRef is immutable: replace the binding.
		next := want.DeepCopy()
		next.Subjects = mergeSubjects(cur.Subjects, want.Subjects)
		if err := api.ClusterRoleBindings().Delete(ctx, cur.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("replace clusterrolebinding %s: %w", want.Name, err)
		}
		if _, err := api.ClusterRoleBindings().Create(ctx, next, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("replace clusterrolebinding %s: %w", want.Name, err)
		}
		return nil
	}
	next := cur.DeepCopy()
	next.Subjects = withoutRevoked(want.Name, mergeSubjects(cur.Subjects, want.Subjects))
	mergeMeta(&next.ObjectMeta, &want.ObjectMeta)
	if !reflect.DeepEqual(next, cur) {
		if _, err := api.ClusterRoleBindings().Update(ctx, next, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("reconcile clusterrolebinding %s: %w", want.Name, err)
		}
	}
	return nil
}

// ensureRole is Ensure for one of NamespaceRoles: created if missing,
// or given the rules it lacks.
func ensureRole(ctx context.Context, api rbacclient.RbacV1Interface, want *rbacv1.Role) error {
	roles := api.Roles(want.Namespace)
	cur, err := roles.Get(ctx, want.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if _, err := roles.Create(ctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create role %s/%s: %w", want.Namespace, want.Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get role %s/%s: %w", want.Namespace, want.Name, err)
	}
	if cur.Annotations[AutoUpdateAnnotation] == "false" {
		return nil
	}
	next := cur.DeepCopy()
	mergeMeta(&next.ObjectMeta, &want.ObjectMeta)
	for _, rule := range want.Rules {
		if ok, _ := rbac.Covers(next.Rules, []rbacv1.PolicyRule{rule}); !ok {
			next.Rules = append(next.Rules, rule)
		}
	}
	if !reflect.DeepEqual(next, cur) {
		if _, err := roles.Update(ctx, next, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("reconcile role %s/%s: %w", want.Namespace, want.Name, err)
		}
	}
	return nil
}

// ensureRoleBinding is Ensure for one of NamespaceRoleBindings: created
// if missing, recreated if bound to another role, or given the subjects
// it lacks.
func ensureRoleBinding(ctx context.Context, api rbacclient.RbacV1Interface, want *rbacv1.RoleBinding) error {
	bindings := api.RoleBindings(want.Namespace)
	cur, err := bindings.Get(ctx, want.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if _, err := bindings.Create(ctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create rolebinding %s/%s: %w", want.Namespace, want.Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get rolebinding %s/%s: %w", want.Namespace, want.Name, err)
	}
	if cur.Annotations[AutoUpdateAnnotation] == "false" {
		return nil
	}
	if cur.RoleRef != want.RoleRef {
		// roleRef is immutable: replace the binding.
		next := want.DeepCopy()
		next.Subjects = mergeSubjects(cur.Subjects, want.Subjects)
		if err := bindings.Delete(ctx, cur.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("replace rolebinding %s/%s: %w", want.Namespace, want.Name, err)
		}
		if _, err := bindings.Create(ctx, next, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("replace rolebinding %s/%s: %w", want.Namespace, want.Name, err)
		}
		return nil
	}
	next := cur.DeepCopy()
	next.Subjects = mergeSubjects(cur.Subjects, want.Subjects)
	mergeMeta(&next.ObjectMeta, &want.ObjectMeta)
	if !reflect.DeepEqual(next, cur) {
		if _, err := bindings.Update(ctx, next, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("reconcile rolebinding %s/%s: %w", want.Namespace, want.Name, err)
		}
	}
	return nil
}

// reconcileRole returns cur with what want adds.
func reconcileRole(cur, want *rbacv1.ClusterRole) (*rbacv1.ClusterRole, bool) {
	next := cur.DeepCopy()
	mergeMeta(&next.ObjectMeta, &want.ObjectMeta)
	if want.AggregationRule != nil {
		if next.AggregationRule == nil {
			next.AggregationRule = &rbacv1.AggregationRule{}
		}
		for _, sel := range want.AggregationRule.ClusterRoleSelectors {
			found := false
			for _, have := range next.AggregationRule.ClusterRoleSelectors {
				if reflect.DeepEqual(have, sel) {
					found = true
					break
				}
			}
			if !found {
				next.AggregationRule.ClusterRoleSelectors = append(next.AggregationRule.ClusterRoleSelectors, sel)
			}
		}
	} else {
		for _, rule := range want.Rules {
			if ok, _ := rbac.Covers(next.Rules, []rbacv1.PolicyRule{rule}); !ok {
				next.Rules = append(next.Rules, rule)
			}
		}
	}
	return next, !reflect.DeepEqual(next, cur)
}

func mergeMeta(dst, src *metav1.ObjectMeta) {
	for k, v := range src.Labels {
		if _, ok := dst.Labels[k]; !ok {
			if dst.Labels == nil {
				dst.Labels = map[string]string{}
			}
			dst.Labels[k] = v
		}
	}
	for k, v := range src.Annotations {
		if _, ok := dst.Annotations[k]; !ok {
			if dst.Annotations == nil {
				dst.Annotations = map[string]string{}
			}
			dst.Annotations[k] = v
		}
	}
}

// revoked are subjects earlier Skiff releases bound and this one must
// take away, by binding: system:node went to group system:nodes until the
// Node authorizer scoped what nodes may read.
var revoked = map[string][]rbacv1.Subject{
	"system:node": {group("system:nodes")},
}

func withoutRevoked(binding string, subjects []rbacv1.Subject) []rbacv1.Subject {
	drop := revoked[binding]
	out := subjects[:0:0] // nil stays nil, as DeepEqual with cur needs
	for _, s := range subjects {
		keep := true
		for _, d := range drop {
			if s.Kind == d.Kind && s.Name == d.Name && s.Namespace == d.Namespace {
				keep = false
			}
		}
		if keep {
			out = append(out, s)
		}
	}
	return out
}

func mergeSubjects(have, want []rbacv1.Subject) []rbacv1.Subject {
	out := append([]rbacv1.Subject(nil), have...)
	for _, s := range want {
		found := false
		for _, h := range have {
			if h.Kind == s.Kind && h.Name == s.Name && h.Namespace == s.Namespace {
				found = true
				break
			}
		}
		if !found {
			out = append(out, s)
		}
	}
	return out
}
