// Package serviceaccount is upstream's ServiceAccount admission plug-in. On
// pod create it:
//
//   - defaults spec.serviceAccountName to "default" and refuses a pod whose
//     service account does not exist;
//   - unless automountServiceAccountToken is false (the pod's field wins
//     over the service account's), adds the projected volume
//     kube-api-access-<random> (a bound token, the cluster CA from the
//     kube-root-ca.crt config map, the namespace) and mounts it read-only
//     at /var/run/secrets/kubernetes.io/serviceaccount in every container
//     and init container that has nothing mounted there;
//   - copies the service account's imagePullSecrets to a pod with none;
//   - when the service account is annotated
//     kubernetes.io/enforce-mountable-secrets=true, refuses secrets the
//     account does not list (volumes, env, envFrom, imagePullSecrets);
//   - keeps mirror pods (static pods the agent posts) from referencing
//     service accounts, secrets or token projections, and leaves their
//     spec alone.
//
// Adding ephemeral containers (pods/ephemeralcontainers) is checked
// against the mountable secrets as well; they get no token mount, as
// upstream.
package serviceaccount

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/internal/admission"
)

// Name is the plug-in's upstream name.
const Name = "ServiceAccount"

// Upstream's names.
const (
	// DefaultName is the service account a pod without one gets.
	DefaultName = "default"
	// MountPath is where containers find the token, CA and namespace.
	MountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// VolumeNamePrefix starts the generated volume's name.
	VolumeNamePrefix = "kube-api-access-"
	// RootCAConfigMap is the config map of the cluster CA in every
	// namespace (the root CA publisher keeps it), and RootCAKey its key.
	RootCAConfigMap = "kube-root-ca.crt"
	RootCAKey       = "ca.crt"
	// TokenExpirationSeconds is the token's requested lifetime: an hour
	// and 7 s, the value the API server recognises to extend the token
	// (warn-only) for clients that do not reload it.
	TokenExpirationSeconds = 3607
	// EnforceMountableSecretsAnnotation on a service account restricts
	// its pods to the secrets it lists.
	EnforceMountableSecretsAnnotation = "kubernetes.io/enforce-mountable-secrets"
	// mirrorPodAnnotation marks a static pod's mirror.
	mirrorPodAnnotation = "kubernetes.io/config.mirror"
)

// Accounts looks service accounts up. ServiceAccount returns an error
// for which apierrors.IsNotFound is true when the account does not exist.
// Safe for concurrent use.
type Accounts interface {
	ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
}

// Plugin is the ServiceAccount plug-in.
type Plugin struct {
	Accounts Accounts
	// RetryInterval is the wait between lookups of a missing "default"
	// account, which the service account controller creates just after
	// its namespace (ten tries, as upstream); zero: a random 100-200 ms.
	RetryInterval time.Duration
	// NameSuffix makes the volume name's random part; nil: upstream's five
	// characters from "bcdfghjklmnpqrstvwxz2456789".
	NameSuffix func() string
}

var (
	_ admission.Mutator   = Plugin{}
	_ admission.Validator = Plugin{}
)

// Name implements admission.Plugin.
func (Plugin) Name() string { return Name }

// ignored says whether the request is not one the plug-in looks at: pods
// and their ephemeralcontainers subresource only.
func ignored(a *admission.Attributes) (*corev1.Pod, bool) {
	if a.GroupResource() != corev1.Resource("pods") || (a.Subresource != "" && a.Subresource != "ephemeralcontainers") {
		return nil, true
	}
	pod, ok := a.Object.(*corev1.Pod)
	return pod, !ok
}

// Admit defaults the service account and mounts its token on a new pod.
func (p Plugin) Admit(ctx context.Context, a *admission.Attributes) error {
	pod, skip := ignored(a)
	if skip || a.Operation != admission.Create {
		return nil
	}
	// A mirror pod's spec must stay what the agent posted, or the agent
	// deletes it as changed; it is only validated.
	if _, mirror := pod.Annotations[mirrorPodAnnotation]; mirror {
		return p.Validate(ctx, a)
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = DefaultName
		// The v1 field's deprecated twin, which decoding already copied
		// (as empty) and validation requires equal.
		pod.Spec.DeprecatedServiceAccount = DefaultName
	}
	sa, err := p.lookUp(ctx, a)
	if err != nil {
		return err
	}
	if automount(sa, pod) {
		p.mountToken(pod)
	}
	if len(pod.Spec.ImagePullSecrets) == 0 && len(sa.ImagePullSecrets) > 0 {
		pod.Spec.ImagePullSecrets = make([]corev1.LocalObjectReference, len(sa.ImagePullSecrets))
		for i, s := range sa.ImagePullSecrets {
			pod.Spec.ImagePullSecrets[i].Name = s.Name
		}
	}
	return p.Validate(ctx, a)
}

// Validate checks the service account and mountable secrets of a new pod
// (and of ephemeral containers added to one), and mirror pods' limits.
func (p Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	pod, skip := ignored(a)
	if skip {
		return nil
	}
	if a.Operation == admission.Update && a.Subresource == "ephemeralcontainers" {
		return p.validateEphemeral(ctx, a, pod)
	}
	if a.Operation != admission.Create || a.Subresource != "" {
		return nil
	}
	if _, mirror := pod.Annotations[mirrorPodAnnotation]; mirror {
		return validateMirror(a, pod)
	}
	if pod.Spec.ServiceAccountName == "" {
		return admission.Forbidden(a, fmt.Errorf("no service account specified for pod %s/%s", a.Namespace, pod.Name))
	}
	sa, err := p.lookUp(ctx, a)
	if err != nil {
		return err
	}
	if enforceMountable(sa) {
		if err := mountableSecrets(sa, pod); err != nil {
			return admission.Forbidden(a, err)
		}
	}
	return nil
}

func (p Plugin) validateEphemeral(ctx context.Context, a *admission.Attributes, pod *corev1.Pod) error {
	if pod.Spec.ServiceAccountName == "" {
		return nil
	}
	sa, err := p.lookUp(ctx, a)
	if err != nil {
		return err
	}
	if !enforceMountable(sa) {
		return nil
	}
	allowed := secretNames(sa.Secrets)
	for _, c := range pod.Spec.EphemeralContainers {
		if err := envSecrets("ephemeral container", c.Name, c.Env, c.EnvFrom, allowed, sa.Name); err != nil {
			return admission.Forbidden(a, err)
		}
	}
	return nil
}

// lookUp finds the pod's service account, as upstream's getServiceAccount:
// the "default" account is tried ten times, since the controller may not
// have created it yet in a new namespace.
func (p Plugin) lookUp(ctx context.Context, a *admission.Attributes) (*corev1.ServiceAccount, error) {
	pod := a.Object.(*corev1.Pod)
	name := pod.Spec.ServiceAccountName
	attempts := 1
	if name == DefaultName {
		attempts = 10
	}
	interval := p.RetryInterval
	if interval <= 0 {
		interval = time.Duration(100+rand.IntN(100)) * time.Millisecond
	}
	var err error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			t := time.NewTimer(interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
		var sa *corev1.ServiceAccount
		sa, err = p.Accounts.ServiceAccount(ctx, a.Namespace, name)
		if err == nil {
			return sa, nil
		}
		if !apierrors.IsNotFound(err) {
			break
		}
	}
	if apierrors.IsNotFound(err) {
		err = apierrors.NewNotFound(corev1.Resource("serviceaccount"), name)
	}
	return nil, admission.Forbidden(a, fmt.Errorf("error looking up service account %s/%s: %w", a.Namespace, name, err))
}

// automount: the pod's preference, then the account's, then true.
func automount(sa *corev1.ServiceAccount, pod *corev1.Pod) bool {
	if pod.Spec.AutomountServiceAccountToken != nil {
		return *pod.Spec.AutomountServiceAccountToken
	}
	if sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// mountToken mounts the token volume in every container and init
// container without a mount at MountPath, adding the volume if one of
// them needs it and the pod has none yet (a kube-api-access-* volume the
// client sent, e.g. from a copied pod, is reused).
func (p Plugin) mountToken(pod *corev1.Pod) {
	volume := ""
	for _, v := range pod.Spec.Volumes {
		if len(v.Name) > len(VolumeNamePrefix) && v.Name[:len(VolumeNamePrefix)] == VolumeNamePrefix {
			volume = v.Name
			break
		}
	}
	hasVolume := volume != ""
	if !hasVolume {
		suffix := p.NameSuffix
		if suffix == nil {
			suffix = randomSuffix
		}
		volume = VolumeNamePrefix + suffix()
	}
	mount := corev1.VolumeMount{Name: volume, ReadOnly: true, MountPath: MountPath}
	needed := false
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if hasMountAt(cs[i].VolumeMounts, MountPath) {
				continue
			}
			cs[i].VolumeMounts = append(cs[i].VolumeMounts, mount)
			needed = true
		}
	}
	if needed && !hasVolume {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{
			Name:         volume,
			VolumeSource: corev1.VolumeSource{Projected: TokenVolumeSource()},
		})
	}
}

func hasMountAt(mounts []corev1.VolumeMount, path string) bool {
	for _, m := range mounts {
		if m.MountPath == path {
			return true
		}
	}
	return false
}

// TokenVolumeSource is upstream's kube-api-access projection: the token
// (path token, 3607 s), ca.crt from kube-root-ca.crt and the namespace,
// with the default mode spelled out (0644).
func TokenVolumeSource() *corev1.ProjectedVolumeSource {
	return &corev1.ProjectedVolumeSource{
		DefaultMode: ptr.To[int32](corev1.ProjectedVolumeSourceDefaultMode),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Path: "token", ExpirationSeconds: ptr.To[int64](TokenExpirationSeconds),
			}},
			{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: RootCAConfigMap},
				Items:                []corev1.KeyToPath{{Key: RootCAKey, Path: RootCAKey}},
			}},
			{DownwardAPI: &corev1.DownwardAPIProjection{
				Items: []corev1.DownwardAPIVolumeFile{{
					Path:     "namespace",
					FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
				}},
			}},
		},
	}
}

// randomSuffix is upstream's SimpleNameGenerator suffix: five characters
// without vowels or look-alikes.
func randomSuffix() string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

func enforceMountable(sa *corev1.ServiceAccount) bool {
	v, ok := sa.Annotations[EnforceMountableSecretsAnnotation]
	if !ok {
		return false
	}
	b, _ := strconv.ParseBool(v)
	return b
}

func secretNames(refs []corev1.ObjectReference) map[string]bool {
	out := map[string]bool{}
	for _, r := range refs {
		out[r.Name] = true
	}
	return out
}

// mountableSecrets refuses the first secret the pod references that the
// account does not list, in upstream's order and words.
func mountableSecrets(sa *corev1.ServiceAccount, pod *corev1.Pod) error {
	allowed := secretNames(sa.Secrets)
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil && !allowed[v.Secret.SecretName] {
			return fmt.Errorf("volume with secret.secretName=%q is not allowed because service account %s does not reference that secret", v.Secret.SecretName, sa.Name)
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if err := envSecrets("init container", c.Name, c.Env, c.EnvFrom, allowed, sa.Name); err != nil {
			return err
		}
	}
	for _, c := range pod.Spec.Containers {
		if err := envSecrets("container", c.Name, c.Env, c.EnvFrom, allowed, sa.Name); err != nil {
			return err
		}
	}
	pull := map[string]bool{}
	for _, s := range sa.ImagePullSecrets {
		pull[s.Name] = true
	}
	for i, s := range pod.Spec.ImagePullSecrets {
		if !pull[s.Name] {
			return fmt.Errorf("imagePullSecrets[%d].name=%q is not allowed because service account %s does not reference that imagePullSecret", i, s.Name, sa.Name)
		}
	}
	return nil
}

func envSecrets(what, container string, env []corev1.EnvVar, envFrom []corev1.EnvFromSource, allowed map[string]bool, sa string) error {
	for _, e := range env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && !allowed[e.ValueFrom.SecretKeyRef.Name] {
			return fmt.Errorf("%s %s with envVar %s referencing secret.secretName=%q is not allowed because service account %s does not reference that secret", what, container, e.Name, e.ValueFrom.SecretKeyRef.Name, sa)
		}
	}
	for _, e := range envFrom {
		if e.SecretRef != nil && !allowed[e.SecretRef.Name] {
			return fmt.Errorf("%s %s with envFrom referencing secret.secretName=%q is not allowed because service account %s does not reference that secret", what, container, e.SecretRef.Name, sa)
		}
	}
	return nil
}

// validateMirror: mirror pods may not reference service accounts,
// secrets or token projections.
func validateMirror(a *admission.Attributes, pod *corev1.Pod) error {
	if pod.Spec.ServiceAccountName != "" {
		return admission.Forbidden(a, fmt.Errorf("a mirror pod may not reference service accounts"))
	}
	if referencesSecrets(pod) {
		return admission.Forbidden(a, fmt.Errorf("a mirror pod may not reference secrets"))
	}
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken != nil {
				return admission.Forbidden(a, fmt.Errorf("a mirror pod may not use ServiceAccountToken volume projections"))
			}
		}
	}
	return nil
}

// referencesSecrets is upstream's VisitPodSecretNames, reduced to "any"
// (the deprecated in-tree volume types, which Skiff does not run, aside).
func referencesSecrets(pod *corev1.Pod) bool {
	if len(pod.Spec.ImagePullSecrets) > 0 {
		return true
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.Secret != nil, v.CSI != nil && v.CSI.NodePublishSecretRef != nil:
			return true
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.Secret != nil {
					return true
				}
			}
		}
	}
	var containers []corev1.Container
	containers = append(containers, pod.Spec.InitContainers...)
	containers = append(containers, pod.Spec.Containers...)
	for _, c := range pod.Spec.EphemeralContainers {
		containers = append(containers, corev1.Container{Env: c.Env, EnvFrom: c.EnvFrom})
	}
	for _, c := range containers {
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil {
				return true
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				return true
			}
		}
	}
	return false
}
