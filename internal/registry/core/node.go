package core

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
)

// nodeStrategy: the pod CIDRs and provider ID are set once; taints are
// unique per key and effect.
type nodeStrategy struct{ clock }

var (
	_ registry.Strategy       = nodeStrategy{}
	_ registry.StatusStrategy = nodeStrategy{}
	_ registry.TableConvertor = nodeStrategy{}
	_ registry.FieldsFunc     = nodeStrategy{}
)

func (nodeStrategy) Default(obj runtime.Object) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	// podCIDR is the first of podCIDRs; clients may set either.
	if node.Spec.PodCIDR != "" && len(node.Spec.PodCIDRs) == 0 {
		node.Spec.PodCIDRs = []string{node.Spec.PodCIDR}
	} else if node.Spec.PodCIDR == "" && len(node.Spec.PodCIDRs) > 0 {
		node.Spec.PodCIDR = node.Spec.PodCIDRs[0]
	}
	st := &node.Status
	if st.Allocatable == nil && st.Capacity != nil {
		st.Allocatable = st.Capacity.DeepCopy()
	}
	roundResourceList(st.Capacity)
	roundResourceList(st.Allocatable)
}

// PrepareForCreate keeps the status: a kubelet registers its node with
// capacity, addresses and conditions in one create.
func (nodeStrategy) PrepareForCreate(context.Context, runtime.Object) {}

func (nodeStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	node, ok1 := obj.(*corev1.Node)
	oldNode, ok2 := old.(*corev1.Node)
	if ok1 && ok2 {
		node.Status = oldNode.Status
	}
}

func (nodeStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return wrongType(obj, "*v1.Node")
	}
	return validateNode(node)
}

func validateNode(node *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	// Upstream reports taints under metadata.taints.
	errs = append(errs, validateTaints(node.Spec.Taints, field.NewPath("metadata", "taints"))...)
	errs = append(errs, validateNodeResources(node)...)
	p := field.NewPath("spec", "podCIDRs")
	for i, c := range node.Spec.PodCIDRs {
		errs = append(errs, validation.IsValidCIDRForLegacyField(p.Index(i), c, true, nil)...)
	}
	if len(node.Spec.PodCIDRs) > 2 || (len(node.Spec.PodCIDRs) == 2 && isIPv6CIDR(node.Spec.PodCIDRs[0]) == isIPv6CIDR(node.Spec.PodCIDRs[1])) {
		errs = append(errs, field.Invalid(p, node.Spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
	}
	return errs
}

func isIPv6CIDR(c string) bool {
	return strings.Contains(c, ":")
}

func validateTaints(taints []corev1.Taint, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[corev1.TaintEffect]sets.Set[string]{}
	for i, t := range taints {
		ip := p.Index(i)
		errs = append(errs, metav1validation.ValidateLabelName(t.Key, ip.Child("key"))...)
		if msgs := validation.IsValidLabelValue(t.Value); len(msgs) > 0 {
			errs = append(errs, field.Invalid(ip.Child("value"), t.Value, strings.Join(msgs, ";")))
		}
		if t.Effect == "" {
			errs = append(errs, field.Required(ip.Child("effect"), ""))
		} else {
			errs = append(errs, validateTaintEffect(t.Effect, ip.Child("effect"))...)
		}
		if seen[t.Effect].Has(t.Key) {
			d := field.Duplicate(ip, t)
			d.Detail = "taints must be unique by key and effect pair"
			errs = append(errs, d)
			continue
		}
		if seen[t.Effect] == nil {
			seen[t.Effect] = sets.New[string]()
		}
		seen[t.Effect].Insert(t.Key)
	}
	return errs
}

// validateNodeResources: capacity and allocatable are valid, non-negative
// quantities of known resources.
func validateNodeResources(node *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	for _, pair := range []struct {
		name string
		rl   corev1.ResourceList
	}{{"capacity", node.Status.Capacity}, {"allocatable", node.Status.Allocatable}} {
		for _, name := range sortedResourceNames(pair.rl) {
			rp := field.NewPath("status", pair.name).Key(string(name))
			errs = append(errs, validateResourceName(name, rp)...)
			errs = append(errs, validateResourceQuantity(name, pair.rl[name], rp)...)
		}
	}
	return errs
}

func (s nodeStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	node, ok1 := obj.(*corev1.Node)
	oldNode, ok2 := old.(*corev1.Node)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.Node")
	}
	errs := validateNode(node)
	return append(errs, validateNodeUpdate(node, oldNode)...)
}

func validateNodeUpdate(node, old *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	seen := map[corev1.NodeAddress]bool{}
	for i, a := range node.Status.Addresses {
		if seen[a] {
			errs = append(errs, field.Duplicate(field.NewPath("status", "addresses").Index(i), a))
		}
		seen[a] = true
	}
	if len(old.Spec.PodCIDRs) > 0 {
		changed := len(old.Spec.PodCIDRs) != len(node.Spec.PodCIDRs)
		for i := 0; !changed && i < len(old.Spec.PodCIDRs); i++ {
			changed = old.Spec.PodCIDRs[i] != node.Spec.PodCIDRs[i]
		}
		if changed {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
		}
	}
	if old.Spec.ProviderID != "" && node.Spec.ProviderID != "" && old.Spec.ProviderID != node.Spec.ProviderID {
		errs = append(errs, field.Invalid(field.NewPath("spec", "providerID"), nil, "field cannot be modified once set"))
	}
	if old.Spec.ProviderID != "" && node.Spec.ProviderID == "" {
		errs = append(errs, field.Invalid(field.NewPath("spec", "providerID"), nil, "field cannot be cleared once set"))
	}
	if node.Spec.DoNotUseExternalID != old.Spec.DoNotUseExternalID {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "externalID"), "may not be updated"))
	}
	return errs
}

// ValidateStatusUpdate checks the kubelet's status writes.
func (nodeStrategy) ValidateStatusUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	node, ok1 := obj.(*corev1.Node)
	oldNode, ok2 := old.(*corev1.Node)
	if !ok1 || !ok2 {
		return wrongType(obj, "*v1.Node")
	}
	return append(validateNode(node), validateNodeUpdate(node, oldNode)...)
}

func (nodeStrategy) SelectableFields(obj runtime.Object) fields.Set {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return nil
	}
	return fields.Set{"spec.unschedulable": boolString(node.Spec.Unschedulable)}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

var nodeColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Status", "string", "The status of the node"),
	column("Roles", "string", "The roles of the node"),
	ageColumn,
	column("Version", "string", corev1.NodeSystemInfo{}.SwaggerDoc()["kubeletVersion"]),
	wideColumn("Internal-IP", "string", corev1.NodeStatus{}.SwaggerDoc()["addresses"]),
	wideColumn("External-IP", "string", corev1.NodeStatus{}.SwaggerDoc()["addresses"]),
	wideColumn("OS-Image", "string", corev1.NodeSystemInfo{}.SwaggerDoc()["osImage"]),
	wideColumn("Kernel-Version", "string", corev1.NodeSystemInfo{}.SwaggerDoc()["kernelVersion"]),
	wideColumn("Container-Runtime", "string", corev1.NodeSystemInfo{}.SwaggerDoc()["containerRuntimeVersion"]),
}

func (nodeStrategy) ColumnDefinitions() []metav1.TableColumnDefinition { return nodeColumns }

func (s nodeStrategy) Row(obj runtime.Object) []interface{} {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return nil
	}
	var status []string
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				status = append(status, "Ready")
			} else {
				status = append(status, "NotReady")
			}
			break
		}
	}
	if len(status) == 0 {
		status = append(status, "Unknown")
	}
	if node.Spec.Unschedulable {
		status = append(status, "SchedulingDisabled")
	}
	roles := sets.New[string]()
	for k, v := range node.Labels {
		switch {
		case strings.HasPrefix(k, "node-role.kubernetes.io/"):
			if r := strings.TrimPrefix(k, "node-role.kubernetes.io/"); r != "" {
				roles.Insert(r)
			}
		case k == "kubernetes.io/role" && v != "":
			roles.Insert(v)
		}
	}
	rolesCell := strings.Join(sets.List(roles), ",")
	if rolesCell == "" {
		rolesCell = "<none>"
	}
	info := node.Status.NodeInfo
	orUnknown := func(s string) string {
		if s == "" {
			return "<unknown>"
		}
		return s
	}
	kernel := orUnknown(info.KernelVersion)
	if info.Architecture != "" {
		kernel += " (" + info.Architecture + ")"
	}
	return []interface{}{node.Name, strings.Join(status, ","), rolesCell, s.since(node.CreationTimestamp), info.KubeletVersion,
		nodeAddress(node, corev1.NodeInternalIP), nodeAddress(node, corev1.NodeExternalIP),
		orUnknown(info.OSImage), kernel, orUnknown(info.ContainerRuntimeVersion)}
}

func nodeAddress(node *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range node.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}
