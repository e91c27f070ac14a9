package agent

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/agent/downward"
	"skiff.dev/skiff/internal/agent/expansion"
	"skiff.dev/skiff/internal/agent/runtime"
)

// environment computes a container's env: envFrom, then env in order,
// each value's $(VAR) expanded against what came before.
//
// This is the agent's interim resolver; the full one (service links,
// upstream's exact ordering and messages) is podconfig.Environment, which
// replaces it once it lands.
func (a *Agent) environment(ctx context.Context, pod *corev1.Pod, c *corev1.Container, podIPs []string) ([]runtime.KeyValue, error) {
	var out []runtime.KeyValue
	index := map[string]int{}
	set := func(k, v string) {
		if i, ok := index[k]; ok {
			out[i].Value = v
			return
		}
		index[k] = len(out)
		out = append(out, runtime.KeyValue{Key: k, Value: v})
	}
	vars := func() map[string]string {
		m := make(map[string]string, len(out))
		for _, kv := range out {
			m[kv.Key] = kv.Value
		}
		return m
	}
	for _, from := range c.EnvFrom {
		var data map[string]string
		switch {
		case from.ConfigMapRef != nil:
			cm, err := a.client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
					continue
				}
				return nil, fmt.Errorf("configmap %q not found", from.ConfigMapRef.Name)
			}
			data = cm.Data
		case from.SecretRef != nil:
			s, err := a.client.CoreV1().Secrets(pod.Namespace).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && from.SecretRef.Optional != nil && *from.SecretRef.Optional {
					continue
				}
				return nil, fmt.Errorf("secret %q not found", from.SecretRef.Name)
			}
			data = map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
		}
		for k, v := range data {
			set(from.Prefix+k, v)
		}
	}
	node := downward.Node{PodIPs: podIPs, HostIPs: a.hostIPs}
	_, allocatable := a.machine.capacity()
	for _, e := range c.Env {
		v := e.Value
		switch {
		case e.ValueFrom == nil:
			v = expansion.Expand(v, expansion.MappingFor(vars()))
		case e.ValueFrom.FieldRef != nil:
			p := pod.DeepCopy()
			if len(podIPs) > 0 {
				p.Status.PodIP = podIPs[0]
				p.Status.PodIPs = []corev1.PodIP{{IP: podIPs[0]}}
			}
			val, err := downward.FieldValue(p, e.ValueFrom.FieldRef, node)
			if err != nil {
				return nil, err
			}
			v = val
		case e.ValueFrom.ResourceFieldRef != nil:
			val, err := downward.ResourceValue(pod, c, e.ValueFrom.ResourceFieldRef, allocatable)
			if err != nil {
				return nil, err
			}
			v = val
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			optional := ref.Optional != nil && *ref.Optional
			cm, err := a.client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && optional {
					continue
				}
				return nil, fmt.Errorf("configmap %q not found", ref.Name)
			}
			val, ok := cm.Data[ref.Key]
			if !ok {
				if optional {
					continue
				}
				return nil, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
			}
			v = val
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			optional := ref.Optional != nil && *ref.Optional
			s, err := a.client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && optional {
					continue
				}
				return nil, fmt.Errorf("secret %q not found", ref.Name)
			}
			val, ok := s.Data[ref.Key]
			if !ok {
				if optional {
					continue
				}
				return nil, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
			}
			v = string(val)
		}
		set(e.Name, v)
	}
	return out, nil
}

// expandCommand expands $(VAR) in command and args against env.
func expandCommand(c *corev1.Container, env []runtime.KeyValue) (command, args []string) {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		m[kv.Key] = kv.Value
	}
	mapping := expansion.MappingFor(m)
	for _, s := range c.Command {
		command = append(command, expansion.Expand(s, mapping))
	}
	for _, s := range c.Args {
		args = append(args, expansion.Expand(s, mapping))
	}
	return command, args
}
