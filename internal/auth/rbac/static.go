package rbac

import rbacv1 "k8s.io/api/rbac/v1"

// StaticPolicy is a PolicySource over fixed objects: for evaluating policy
// that is not (yet) stored, such as the bootstrap policy, and for tests.
type StaticPolicy struct {
	ClusterRolesList        []rbacv1.ClusterRole
	ClusterRoleBindingsList []rbacv1.ClusterRoleBinding
	RolesList               []rbacv1.Role
	RoleBindingsList        []rbacv1.RoleBinding
}

var _ PolicySource = (*StaticPolicy)(nil)

// ClusterRoleBindings implements PolicySource.
func (p *StaticPolicy) ClusterRoleBindings() []*rbacv1.ClusterRoleBinding {
	out := make([]*rbacv1.ClusterRoleBinding, len(p.ClusterRoleBindingsList))
	for i := range p.ClusterRoleBindingsList {
		out[i] = &p.ClusterRoleBindingsList[i]
	}
	return out
}

// RoleBindings implements PolicySource.
func (p *StaticPolicy) RoleBindings(namespace string) []*rbacv1.RoleBinding {
	var out []*rbacv1.RoleBinding
	for i := range p.RoleBindingsList {
		if p.RoleBindingsList[i].Namespace == namespace {
			out = append(out, &p.RoleBindingsList[i])
		}
	}
	return out
}

// ClusterRole implements PolicySource.
func (p *StaticPolicy) ClusterRole(name string) (*rbacv1.ClusterRole, bool) {
	for i := range p.ClusterRolesList {
		if p.ClusterRolesList[i].Name == name {
			return &p.ClusterRolesList[i], true
		}
	}
	return nil, false
}

// Role implements PolicySource.
func (p *StaticPolicy) Role(namespace, name string) (*rbacv1.Role, bool) {
	for i := range p.RolesList {
		if p.RolesList[i].Namespace == namespace && p.RolesList[i].Name == name {
			return &p.RolesList[i], true
		}
	}
	return nil, false
}
