// Package defaultstorageclass is upstream's DefaultStorageClass admission
// plug-in: a PersistentVolumeClaim created without a storage class gets
// the cluster's default StorageClass (annotated
// storageclass.kubernetes.io/is-default-class=true; the newest wins when
// several are, as upstream since 1.26). A claim that sets
// storageClassName, even to "", keeps it.
package defaultstorageclass

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/internal/admission"
)

// Name is the plug-in's upstream name.
const Name = "DefaultStorageClass"

// Objects lists cluster-scoped objects (the API server's StorageClass
// cache). Safe for concurrent use.
type Objects interface {
	List(namespace string) []runtime.Object
}

// Plugin is the DefaultStorageClass plug-in.
type Plugin struct {
	StorageClasses Objects
}

var _ admission.Mutator = Plugin{}

// Name implements admission.Plugin.
func (Plugin) Name() string { return Name }

// betaClassAnnotation is the claim's pre-1.6 way of naming its class.
const betaClassAnnotation = "volume.beta.kubernetes.io/storage-class"

// Admit sets the default class on a claim being created without one.
func (p Plugin) Admit(_ context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Create || a.Subresource != "" {
		return nil
	}
	pvc, ok := a.Object.(*corev1.PersistentVolumeClaim)
	if !ok || pvc.Spec.StorageClassName != nil {
		return nil
	}
	if _, ok := pvc.Annotations[betaClassAnnotation]; ok {
		return nil
	}
	if def := Default(p.StorageClasses.List("")); def != nil {
		name := def.Name
		pvc.Spec.StorageClassName = &name
	}
	return nil
}

// defaultAnnotations mark a default class (the beta one still honoured).
var defaultAnnotations = []string{"storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class"}

// Default is the default class among objs: of those annotated as
// default, the newest, and of equally new ones the first by name; nil if
// none is.
func Default(objs []runtime.Object) *storagev1.StorageClass {
	var best *storagev1.StorageClass
	for _, o := range objs {
		sc, ok := o.(*storagev1.StorageClass)
		if !ok || !isDefault(sc) {
			continue
		}
		switch {
		case best == nil, sc.CreationTimestamp.After(best.CreationTimestamp.Time):
			best = sc
		case sc.CreationTimestamp.Equal(&best.CreationTimestamp) && sc.Name < best.Name:
			best = sc
		}
	}
	return best
}

func isDefault(sc *storagev1.StorageClass) bool {
	for _, k := range defaultAnnotations {
		if sc.Annotations[k] == "true" {
			return true
		}
	}
	return false
}
