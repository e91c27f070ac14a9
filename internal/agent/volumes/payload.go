package volumes

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"skiff.dev/skiff/internal/agent/downward"
)

// Default file modes of projected volumes, as the API defaults them.
const (
	defaultConfigMapMode = 0o644
	defaultSecretMode    = 0o644
	defaultDownwardMode  = 0o644
	defaultProjectedMode = 0o644
	tokenOwnerMode       = 0o600
)

func modeOr(m *int32, def int32) int32 {
	if m != nil {
		return *m
	}
	return def
}

func (m *Manager) configMap(ns, name string, optional bool) (*corev1.ConfigMap, error) {
	if m.cfg.Getter == nil {
		return nil, fmt.Errorf("couldn't get configMap %v/%v, no kubeClient defined", ns, name)
	}
	cm, err := m.cfg.Getter.ConfigMap(ns, name)
	if err == nil {
		return cm, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, err
	}
	if optional {
		return &corev1.ConfigMap{}, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("configmap"), name)
}

func (m *Manager) secret(ns, name string, optional bool) (*corev1.Secret, error) {
	if m.cfg.Getter == nil {
		return nil, fmt.Errorf("couldn't get secret %v/%v, no kubeClient defined", ns, name)
	}
	s, err := m.cfg.Getter.Secret(ns, name)
	if err == nil {
		return s, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, err
	}
	if optional {
		return &corev1.Secret{}, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("secret"), name)
}

// configMapFiles is upstream's configmap MakePayload: every key (data and
// binaryData) at defaultMode, or only the listed items at their paths.
func configMapFiles(items []corev1.KeyToPath, cm *corev1.ConfigMap, defaultMode int32, optional bool) (map[string]file, error) {
	out := map[string]file{}
	if len(items) == 0 {
		for k, v := range cm.Data {
			out[k] = file{data: []byte(v), mode: defaultMode}
		}
		for k, v := range cm.BinaryData {
			out[k] = file{data: v, mode: defaultMode}
		}
		return out, nil
	}
	for _, it := range items {
		var data []byte
		if v, ok := cm.Data[it.Key]; ok {
			data = []byte(v)
		} else if v, ok := cm.BinaryData[it.Key]; ok {
			data = v
		} else {
			if optional {
				continue
			}
			return nil, fmt.Errorf("configmap references non-existent config key: %s", it.Key)
		}
		out[it.Path] = file{data: data, mode: modeOr(it.Mode, defaultMode)}
	}
	return out, nil
}

// secretFiles is upstream's secret MakePayload.
func secretFiles(items []corev1.KeyToPath, s *corev1.Secret, defaultMode int32, optional bool) (map[string]file, error) {
	out := map[string]file{}
	if len(items) == 0 {
		for k, v := range s.Data {
			out[k] = file{data: v, mode: defaultMode}
		}
		return out, nil
	}
	for _, it := range items {
		v, ok := s.Data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("references non-existent secret key: %s", it.Key)
		}
		out[it.Path] = file{data: v, mode: modeOr(it.Mode, defaultMode)}
	}
	return out, nil
}

// downwardFiles resolves downwardAPI items: pod metadata fields and
// container resources.
func (m *Manager) downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defaultMode int32) (map[string]file, error) {
	out := map[string]file{}
	for _, it := range items {
		var (
			v   string
			err error
		)
		switch {
		case it.FieldRef != nil:
			v, err = downward.FieldValue(pod, it.FieldRef, downward.Node{})
		case it.ResourceFieldRef != nil:
			v, err = downward.ResourceValue(pod, nil, it.ResourceFieldRef, m.cfg.Allocatable)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("unable to get value for %s: %w", it.Path, err)
		}
		out[it.Path] = file{data: []byte(v), mode: modeOr(it.Mode, defaultMode)}
	}
	return out, nil
}

// projectedFiles merges the sources of a projected volume.
func (m *Manager) projectedFiles(ctx context.Context, pod *corev1.Pod, volName string, src *corev1.ProjectedVolumeSource) (map[string]file, error) {
	defaultMode := modeOr(src.DefaultMode, defaultProjectedMode)
	out := map[string]file{}
	merge := func(files map[string]file) {
		for p, f := range files {
			out[p] = f
		}
	}
	for _, s := range src.Sources {
		switch {
		case s.ConfigMap != nil:
			optional := isTrue(s.ConfigMap.Optional)
			cm, err := m.configMap(pod.Namespace, s.ConfigMap.Name, optional)
			if err != nil {
				return nil, err
			}
			files, err := configMapFiles(s.ConfigMap.Items, cm, defaultMode, optional)
			if err != nil {
				return nil, err
			}
			merge(files)
		case s.Secret != nil:
			optional := isTrue(s.Secret.Optional)
			sec, err := m.secret(pod.Namespace, s.Secret.Name, optional)
			if err != nil {
				return nil, err
			}
			files, err := secretFiles(s.Secret.Items, sec, defaultMode, optional)
			if err != nil {
				return nil, err
			}
			merge(files)
		case s.DownwardAPI != nil:
			files, err := m.downwardFiles(pod, s.DownwardAPI.Items, defaultMode)
			if err != nil {
				return nil, err
			}
			merge(files)
		case s.ServiceAccountToken != nil:
			t := s.ServiceAccountToken
			if m.cfg.Tokens == nil {
				return nil, fmt.Errorf("serviceAccountToken projection for volume %q: this agent cannot request service account tokens yet", volName)
			}
			audience := t.Audience
			expiration := int64(3600)
			if t.ExpirationSeconds != nil {
				expiration = *t.ExpirationSeconds
			}
			// The source's errors are upstream's ("failed to fetch
			// token: ...", "token ... expired and refresh failed: ...").
			token, err := m.cfg.Tokens.Token(ctx, pod, audience, expiration)
			if err != nil {
				return nil, err
			}
			f := file{data: []byte(token), mode: defaultMode}
			// As upstream: when every container runs as the same user and
			// there is no fsGroup, that user owns the token, mode 0600.
			if uid := tokenOwner(pod); uid != nil {
				f.uid, f.mode = uid, tokenOwnerMode
			}
			out[t.Path] = f
		case s.ClusterTrustBundle != nil:
			return nil, fmt.Errorf("clusterTrustBundle projections are not supported")
		case s.PodCertificate != nil:
			return nil, fmt.Errorf("podCertificate projections are not supported")
		}
	}
	return out, nil
}

// tokenOwner returns the single runAsUser of all the pod's containers when
// the pod has no fsGroup.
func tokenOwner(pod *corev1.Pod) *int64 {
	if pod.Spec.SecurityContext != nil && pod.Spec.SecurityContext.FSGroup != nil {
		return nil
	}
	var uid *int64
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			u := (*int64)(nil)
			if c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil {
				u = c.SecurityContext.RunAsUser
			} else if pod.Spec.SecurityContext != nil {
				u = pod.Spec.SecurityContext.RunAsUser
			}
			if u == nil || (uid != nil && *uid != *u) {
				return nil
			}
			uid = u
		}
	}
	return uid
}

func isTrue(b *bool) bool { return b != nil && *b }
