package podconfig

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"

	"skiff.dev/skiff/internal/agent/downward"
	"skiff.dev/skiff/internal/agent/expansion"
	"skiff.dev/skiff/internal/agent/runtime"
)

// Getter reads the secrets and config maps a container's environment refers
// to. For an object that does not exist it returns an error for which
// apierrors.IsNotFound is true; Environment then reports upstream's
// message (`secret "x" not found`, `configmap "x" not found`), which
// becomes the container's CreateContainerConfigError message.
type Getter interface {
	Secret(namespace, name string) (*corev1.Secret, error)
	ConfigMap(namespace, name string) (*corev1.ConfigMap, error)
}

// EnvInput is what the node contributes to a container's environment.
type EnvInput struct {
	Getter Getter
	// Services are the services the agent knows of, in every namespace:
	// "kubernetes" in "default" is always injected, the pod's namespace's
	// services when spec.enableServiceLinks is true (the default).
	Services []*corev1.Service
	// PodIPs, HostIPs: status.podIP(s) and status.hostIP(s), primary first.
	PodIPs, HostIPs []string
	// Allocatable is the node's allocatable resources: resourceFieldRef
	// limits that are unset read as these.
	Allocatable corev1.ResourceList
}

// Environment computes a container's environment as upstream's kubelet
// does: envFrom first (later sources override earlier ones), then env in
// order, each value's $(VAR) references expanded against the variables
// defined so far and the service variables, then the service variables
// not otherwise defined. Variables keep the position of their first
// definition; service variables come last, sorted by name.
//
// A missing secret, config map or key that is not optional is an error
// with upstream's message (`secret "x" not found`, `couldn't find key k in
// Secret ns/x`); the caller reports it as CreateContainerConfigError.
// envFrom keys that are not valid variable names are skipped and reported
// as an InvalidEnvironmentVariableNames event.
func Environment(pod *corev1.Pod, c *corev1.Container, in EnvInput) ([]runtime.KeyValue, []Event, error) {
	ns := pod.Namespace
	serviceEnv := ServiceEnv(pod, in.Services)
	env := newOrderedEnv()
	var events []Event
	secrets := map[string]*corev1.Secret{}
	configMaps := map[string]*corev1.ConfigMap{}

	getSecret := func(name string, optional bool) (*corev1.Secret, bool, error) {
		if s, ok := secrets[name]; ok {
			return s, true, nil
		}
		if in.Getter == nil {
			return nil, false, fmt.Errorf("couldn't get secret %v/%v, no kubeClient defined", ns, name)
		}
		s, err := in.Getter.Secret(ns, name)
		if err != nil {
			if !apierrors.IsNotFound(err) {
				return nil, false, err
			}
			if optional {
				return nil, false, nil
			}
			// Upstream's message names the kind in the singular.
			return nil, false, apierrors.NewNotFound(corev1.Resource("secret"), name)
		}
		secrets[name] = s
		return s, true, nil
	}
	getConfigMap := func(name string, optional bool) (*corev1.ConfigMap, bool, error) {
		if cm, ok := configMaps[name]; ok {
			return cm, true, nil
		}
		if in.Getter == nil {
			return nil, false, fmt.Errorf("couldn't get configMap %v/%v, no kubeClient defined", ns, name)
		}
		cm, err := in.Getter.ConfigMap(ns, name)
		if err != nil {
			if !apierrors.IsNotFound(err) {
				return nil, false, err
			}
			if optional {
				return nil, false, nil
			}
			return nil, false, apierrors.NewNotFound(corev1.Resource("configmap"), name)
		}
		configMaps[name] = cm
		return cm, true, nil
	}

	for _, from := range c.EnvFrom {
		var (
			kind, name string
			data       = map[string]string{}
		)
		switch {
		case from.ConfigMapRef != nil:
			kind, name = "configMap", from.ConfigMapRef.Name
			cm, ok, err := getConfigMap(name, isTrue(from.ConfigMapRef.Optional))
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				continue
			}
			for k, v := range cm.Data {
				data[k] = v
			}
		case from.SecretRef != nil:
			kind, name = "secret", from.SecretRef.Name
			s, ok, err := getSecret(name, isTrue(from.SecretRef.Optional))
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				continue
			}
			for k, v := range s.Data {
				data[k] = string(v)
			}
		default:
			continue
		}
		var invalid []string
		for _, k := range sortedKeys(data) {
			key := from.Prefix + k
			// Upstream now accepts any printable name but "=" (relaxed
			// validation); a name outside that would corrupt the
			// container's environment, so it is skipped as it used to be.
			if errs := validation.IsRelaxedEnvVarName(key); len(errs) != 0 {
				invalid = append(invalid, key)
				continue
			}
			env.set(key, data[k])
		}
		if len(invalid) > 0 {
			events = append(events, Event{
				Reason: "InvalidEnvironmentVariableNames",
				Message: fmt.Sprintf("Keys [%s] from the EnvFrom %s %s/%s were skipped since they are considered invalid environment variable names.",
					strings.Join(invalid, ", "), kind, ns, name),
			})
		}
	}

	mapping := expansion.MappingFor(env.values, serviceEnv)
	node := downward.Node{PodIPs: in.PodIPs, HostIPs: in.HostIPs}
	for _, e := range c.Env {
		value := e.Value
		switch {
		case value != "":
			value = expansion.Expand(value, mapping)
		case e.ValueFrom == nil:
		case e.ValueFrom.FieldRef != nil:
			v, err := downward.FieldValue(pod, e.ValueFrom.FieldRef, node)
			if err != nil {
				return nil, nil, err
			}
			value = v
		case e.ValueFrom.ResourceFieldRef != nil:
			v, err := downward.ResourceValue(pod, c, e.ValueFrom.ResourceFieldRef, in.Allocatable)
			if err != nil {
				return nil, nil, err
			}
			value = v
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			optional := isTrue(ref.Optional)
			cm, ok, err := getConfigMap(ref.Name, optional)
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				continue
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				if optional {
					continue
				}
				return nil, nil, fmt.Errorf("couldn't find key %v in ConfigMap %v/%v", ref.Key, ns, ref.Name)
			}
			value = v
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			optional := isTrue(ref.Optional)
			s, ok, err := getSecret(ref.Name, optional)
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				continue
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				if optional {
					continue
				}
				return nil, nil, fmt.Errorf("couldn't find key %v in Secret %v/%v", ref.Key, ns, ref.Name)
			}
			value = string(v)
		}
		env.set(e.Name, value)
	}

	out := make([]runtime.KeyValue, 0, len(env.order)+len(serviceEnv))
	for _, k := range env.order {
		out = append(out, runtime.KeyValue{Key: k, Value: env.values[k]})
	}
	for _, k := range sortedKeys(serviceEnv) {
		if _, ok := env.values[k]; !ok {
			out = append(out, runtime.KeyValue{Key: k, Value: serviceEnv[k]})
		}
	}
	return out, events, nil
}

// orderedEnv is a map that remembers the order keys were first set in.
type orderedEnv struct {
	values map[string]string
	order  []string
}

func newOrderedEnv() *orderedEnv { return &orderedEnv{values: map[string]string{}} }

func (o *orderedEnv) set(k, v string) {
	if _, ok := o.values[k]; !ok {
		o.order = append(o.order, k)
	}
	o.values[k] = v
}

// ServiceEnv returns the Docker-links style variables upstream injects for
// services: those of the master service "kubernetes" in "default" always,
// and those of the pod's namespace when spec.enableServiceLinks is not
// false. Services without a cluster IP (headless) contribute nothing.
func ServiceEnv(pod *corev1.Pod, services []*corev1.Service) map[string]string {
	links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	chosen := map[string]*corev1.Service{}
	for _, s := range services {
		if !serviceIPSet(s) {
			continue
		}
		switch {
		case s.Namespace == "default" && s.Name == "kubernetes":
			if _, ok := chosen[s.Name]; !ok {
				chosen[s.Name] = s
			}
		case s.Namespace == pod.Namespace && links:
			chosen[s.Name] = s
		}
	}
	out := map[string]string{}
	for _, s := range chosen {
		addServiceEnv(out, s)
	}
	return out
}

func serviceIPSet(s *corev1.Service) bool {
	return s.Spec.ClusterIP != corev1.ClusterIPNone && s.Spec.ClusterIP != ""
}

func addServiceEnv(out map[string]string, s *corev1.Service) {
	if len(s.Spec.Ports) == 0 {
		return
	}
	prefix := strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
	ip := s.Spec.ClusterIP
	out[prefix+"_SERVICE_HOST"] = ip
	out[prefix+"_SERVICE_PORT"] = strconv.Itoa(int(s.Spec.Ports[0].Port))
	for _, p := range s.Spec.Ports {
		if p.Name != "" {
			out[prefix+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_"))] = strconv.Itoa(int(p.Port))
		}
	}
	for i, p := range s.Spec.Ports {
		protocol := string(corev1.ProtocolTCP)
		if p.Protocol != "" {
			protocol = string(p.Protocol)
		}
		url := strings.ToLower(protocol) + "://" + net.JoinHostPort(ip, strconv.Itoa(int(p.Port)))
		if i == 0 {
			out[prefix+"_PORT"] = url
		}
		pp := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Port, strings.ToUpper(protocol))
		out[pp] = url
		out[pp+"_PROTO"] = strings.ToLower(protocol)
		out[pp+"_PORT"] = strconv.Itoa(int(p.Port))
		out[pp+"_ADDR"] = ip
	}
}

// ExpandCommand expands $(VAR) references in the container's command and
// args against its environment, as upstream does before creating it.
func ExpandCommand(c *corev1.Container, env []runtime.KeyValue) (command, args []string) {
	vars := make(map[string]string, len(env))
	for _, kv := range env {
		vars[kv.Key] = kv.Value
	}
	mapping := expansion.MappingFor(vars)
	expand := func(in []string) []string {
		if len(in) == 0 {
			return nil
		}
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = expansion.Expand(s, mapping)
		}
		return out
	}
	return expand(c.Command), expand(c.Args)
}

func isTrue(b *bool) bool { return b != nil && *b }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
