// Package namespacelifecycle is upstream's NamespaceLifecycle admission
// plug-in. The API server itself refuses creates in a namespace that does
// not exist or is being terminated (internal/apiserver, checkNamespace,
// which runs for every writer, the server's own included); this plug-in
// adds the rest: the namespaces the cluster needs may not be deleted.
package namespacelifecycle

import (
	"context"
	"errors"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/admission"
)

// Name is the plug-in's upstream name.
const Name = "NamespaceLifecycle"

// immortal are the namespaces upstream refuses to delete.
var immortal = map[string]bool{
	metav1.NamespaceDefault: true,
	metav1.NamespaceSystem:  true,
	metav1.NamespacePublic:  true,
}

// errImmortal is upstream's reason for refusing the deletion.
var errImmortal = errors.New("this namespace may not be deleted")

// Plugin is the NamespaceLifecycle plug-in.
type Plugin struct{}

var _ admission.Validator = Plugin{}

// Name implements admission.Plugin.
func (Plugin) Name() string { return Name }

// Validate refuses deleting default, kube-system and kube-public:
// `namespaces "default" is forbidden: this namespace may not be deleted`.
func (Plugin) Validate(_ context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Delete || a.Subresource != "" || a.Resource.Group != "" || a.Resource.Resource != "namespaces" {
		return nil
	}
	if immortal[a.Name] {
		return admission.Forbidden(a, errImmortal)
	}
	return nil
}
