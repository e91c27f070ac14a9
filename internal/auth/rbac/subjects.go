package rbac

import (
	"strconv"

	rbacv1 "k8s.io/api/rbac/v1"

	"skiff.dev/skiff/internal/auth/authn"
)

// ServiceAccountUsernamePrefix starts every service account's user name:
// system:serviceaccount:<namespace>:<name>.
const ServiceAccountUsernamePrefix = "system:serviceaccount:"

// appliesTo reports which of subjects (if any) names user; bindingNamespace
// is the namespace of a RoleBinding ("" for a ClusterRoleBinding) and is the
// default namespace of ServiceAccount subjects, as upstream.
func appliesTo(user *authn.User, subjects []rbacv1.Subject, bindingNamespace string) (int, bool) {
	for i := range subjects {
		if subjectMatches(user, &subjects[i], bindingNamespace) {
			return i, true
		}
	}
	return 0, false
}

func subjectMatches(user *authn.User, s *rbacv1.Subject, bindingNamespace string) bool {
	switch s.Kind {
	case rbacv1.UserKind:
		return user.Name == s.Name
	case rbacv1.GroupKind:
		return user.InGroup(s.Name)
	case rbacv1.ServiceAccountKind:
		ns := bindingNamespace
		if s.Namespace != "" {
			ns = s.Namespace
		}
		if ns == "" {
			return false
		}
		return user.Name == ServiceAccountUsernamePrefix+ns+":"+s.Name
	}
	return false
}

// describeSubject is upstream's text for a subject in "allowed by" reasons.
func describeSubject(s *rbacv1.Subject, bindingNamespace string) string {
	if s.Kind == rbacv1.ServiceAccountKind {
		ns := s.Namespace
		if ns == "" {
			ns = bindingNamespace
		}
		return s.Kind + " " + strconv.Quote(s.Name+"/"+ns)
	}
	return s.Kind + " " + strconv.Quote(s.Name)
}
