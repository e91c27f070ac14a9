package core

import (
	"context"
	"encoding/json"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

// maxDataSize caps the data of a configmap or secret (1 MiB), as upstream.
const maxDataSize = 1 * 1024 * 1024

type configMapStrategy struct{ clock }

var (
	_ registry.Strategy       = configMapStrategy{}
	_ registry.TableConvertor = configMapStrategy{}
)

func (configMapStrategy) Default(obj runtime.Object) {
	if cm, ok := obj.(*corev1.ConfigMap); ok && cm.Data == nil {
		cm.Data = map[string]string{}
	}
}

func (configMapStrategy) PrepareForCreate(context.Context, runtime.Object)                 {}
func (configMapStrategy) PrepareForUpdate(context.Context, runtime.Object, runtime.Object) {}

func (configMapStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return wrongType(obj, "*v1.ConfigMap")
	}
	var errs field.ErrorList
	total := 0
	for _, key := range sortedKeys(cm.Data) {
		for _, msg := range validation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(field.NewPath("data").Key(key), key, msg))
		}
		if _, dup := cm.BinaryData[key]; dup {
			errs = append(errs, field.Invalid(field.NewPath("data").Key(key), key, "duplicate of key present in binaryData"))
		}
		total += len(cm.Data[key])
	}
	for _, key := range sortedKeys(cm.BinaryData) {
		for _, msg := range validation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(field.NewPath("binaryData").Key(key), key, msg))
		}
		total += len(cm.BinaryData[key])
	}
	if total > maxDataSize {
		errs = append(errs, field.TooLong(field.NewPath(""), "", maxDataSize))
	}
	return errs
}

func (s configMapStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	cm, ok1 := obj.(*corev1.ConfigMap)
	oldCM, ok2 := old.(*corev1.ConfigMap)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.ConfigMap")
	}
	var errs field.ErrorList
	if oldCM.Immutable != nil && *oldCM.Immutable {
		errs = append(errs, immutableDataErrors(cm.Immutable, [][2]interface{}{
			{cm.Data, oldCM.Data}, {cm.BinaryData, oldCM.BinaryData}}, []string{"data", "binaryData"})...)
	}
	return append(errs, s.Validate(ctx, obj)...)
}

// immutableDataErrors: once immutable is true it stays true and the data
// fields stay as they are.
func immutableDataErrors(immutable *bool, pairs [][2]interface{}, names []string) field.ErrorList {
	var errs field.ErrorList
	if immutable == nil || !*immutable {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
	}
	for i, p := range pairs {
		if !reflect.DeepEqual(p[0], p[1]) {
			errs = append(errs, field.Forbidden(field.NewPath(names[i]), "field is immutable when `immutable` is set"))
		}
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return keys
}

var configMapColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Data", "string", corev1.ConfigMap{}.SwaggerDoc()["data"]),
	ageColumn,
}

func (configMapStrategy) ColumnDefinitions() []metav1.TableColumnDefinition { return configMapColumns }

func (s configMapStrategy) Row(obj runtime.Object) []interface{} {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return nil
	}
	return []interface{}{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), s.since(cm.CreationTimestamp)}
}

// secretStrategy: type defaults to Opaque and is immutable; typed secrets
// must carry their keys.
type secretStrategy struct{ clock }

var (
	_ registry.Strategy       = secretStrategy{}
	_ registry.TableConvertor = secretStrategy{}
	_ registry.FieldsFunc     = secretStrategy{}
)

func (secretStrategy) Default(obj runtime.Object) {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return
	}
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
	// stringData is write-only: merged into data (overwriting), never
	// stored or returned, as upstream's conversion does.
	if len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = make(map[string][]byte, len(s.StringData))
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
	}
	s.StringData = nil
}

func (secretStrategy) PrepareForCreate(context.Context, runtime.Object)                 {}
func (secretStrategy) PrepareForUpdate(context.Context, runtime.Object, runtime.Object) {}

func (secretStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return wrongType(obj, "*v1.Secret")
	}
	var errs field.ErrorList
	data := field.NewPath("data")
	total := 0
	for _, key := range sortedKeys(s.Data) {
		for _, msg := range validation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(data.Key(key), key, msg))
		}
		total += len(s.Data[key])
	}
	if total > maxDataSize {
		errs = append(errs, field.TooLong(data, "", maxDataSize))
	}
	requireJSON := func(key string) {
		b, ok := s.Data[key]
		if !ok {
			errs = append(errs, field.Required(data.Key(key), ""))
			return
		}
		if err := json.Unmarshal(b, &map[string]interface{}{}); err != nil {
			errs = append(errs, field.Invalid(data.Key(key), "<secret contents redacted>", err.Error()))
		}
	}
	switch s.Type {
	case corev1.SecretTypeServiceAccountToken:
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(field.NewPath("metadata", "annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeDockercfg:
		requireJSON(corev1.DockerConfigKey)
	case corev1.SecretTypeDockerConfigJson:
		requireJSON(corev1.DockerConfigJsonKey)
	case corev1.SecretTypeBasicAuth:
		_, user := s.Data[corev1.BasicAuthUsernameKey]
		_, pass := s.Data[corev1.BasicAuthPasswordKey]
		if !user && !pass {
			errs = append(errs, field.Required(data.Key(corev1.BasicAuthUsernameKey), ""),
				field.Required(data.Key(corev1.BasicAuthPasswordKey), ""))
		}
	case corev1.SecretTypeSSHAuth:
		if len(s.Data[corev1.SSHAuthPrivateKey]) == 0 {
			errs = append(errs, field.Required(data.Key(corev1.SSHAuthPrivateKey), ""))
		}
	case corev1.SecretTypeTLS:
		if _, ok := s.Data[corev1.TLSCertKey]; !ok {
			errs = append(errs, field.Required(data.Key(corev1.TLSCertKey), ""))
		}
		if _, ok := s.Data[corev1.TLSPrivateKeyKey]; !ok {
			errs = append(errs, field.Required(data.Key(corev1.TLSPrivateKeyKey), ""))
		}
	}
	return errs
}

func (st secretStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	s, ok1 := obj.(*corev1.Secret)
	oldS, ok2 := old.(*corev1.Secret)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.Secret")
	}
	errs := apivalidation.ValidateImmutableField(s.Type, oldS.Type, field.NewPath("type"))
	if oldS.Immutable != nil && *oldS.Immutable {
		errs = append(errs, immutableDataErrors(s.Immutable, [][2]interface{}{{s.Data, oldS.Data}}, []string{"data"})...)
	}
	return append(errs, st.Validate(ctx, obj)...)
}

func (secretStrategy) SelectableFields(obj runtime.Object) fields.Set {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return nil
	}
	return fields.Set{"type": string(s.Type)}
}

var secretColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Type", "string", corev1.Secret{}.SwaggerDoc()["type"]),
	column("Data", "string", corev1.Secret{}.SwaggerDoc()["data"]),
	ageColumn,
}

func (secretStrategy) ColumnDefinitions() []metav1.TableColumnDefinition { return secretColumns }

func (st secretStrategy) Row(obj runtime.Object) []interface{} {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return nil
	}
	return []interface{}{s.Name, string(s.Type), int64(len(s.Data)), st.since(s.CreationTimestamp)}
}

// serviceAccountStrategy: nothing beyond metadata is validated.
type serviceAccountStrategy struct{ clock }

var (
	_ registry.Strategy       = serviceAccountStrategy{}
	_ registry.TableConvertor = serviceAccountStrategy{}
)

func (serviceAccountStrategy) Default(runtime.Object)                                           {}
func (serviceAccountStrategy) PrepareForCreate(context.Context, runtime.Object)                 {}
func (serviceAccountStrategy) PrepareForUpdate(context.Context, runtime.Object, runtime.Object) {}
func (serviceAccountStrategy) Validate(context.Context, runtime.Object) field.ErrorList         { return nil }
func (serviceAccountStrategy) ValidateUpdate(context.Context, runtime.Object, runtime.Object) field.ErrorList {
	return nil
}

func (serviceAccountStrategy) ColumnDefinitions() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{nameColumn, ageColumn}
}

func (s serviceAccountStrategy) Row(obj runtime.Object) []interface{} {
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return nil
	}
	return []interface{}{sa.Name, s.since(sa.CreationTimestamp)}
}
