package agent

import (
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	goruntime "runtime"
	"slices"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"skiff.dev/skiff/internal/agent/runtime"
)

// NodeLeaseNamespace holds the nodes' heartbeat Leases.
const NodeLeaseNamespace = "kube-node-lease"

// defaultPodNetwork is where an agent picks its node's /24 when neither
// its flags nor the Node say.
var defaultPodNetwork = netip.MustParsePrefix("10.42.0.0/16")

// register creates the Node, or adopts the existing one, and settles the
// node's addresses and pod CIDR. It retries until the API answers or ctx
// ends.
func (a *Agent) register(ctx context.Context) error {
	name, version, err := a.rt.Version(ctx)
	if err != nil {
		return fmt.Errorf("runtime version: %w", err)
	}
	a.runtimeName = name
	a.machine = a.cfg.Machine
	if a.machine == nil {
		if a.machine, err = ReadMachine(a.cfg.DataDir); err != nil {
			return fmt.Errorf("read machine: %w", err)
		}
	}
	ip := a.cfg.NodeIP
	if ip == "" {
		ip = machineIP()
	}
	a.hostIPs = []string{ip}

	var node *corev1.Node
	err = wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		node, err = a.createOrAdoptNode(ctx, name+"://"+version)
		if err != nil {
			a.log.Warn("register node", "err", err)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("register node %s: %w", a.cfg.NodeName, err)
	}
	a.nodeUID = node.UID
	return nil
}

func (a *Agent) createOrAdoptNode(ctx context.Context, runtimeVersion string) (*corev1.Node, error) {
	nodes := a.client.CoreV1().Nodes()
	node, err := nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		cidr, err := a.choosePodCIDR(ctx, nil)
		if err != nil {
			return nil, err
		}
		a.podCIDR = cidr
		node = a.initialNode()
		node.Status = a.nodeStatus(ctx, nil, runtimeVersion)
		created, err := nodes.Create(ctx, node, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("create node: %w", err)
		}
		a.recordNodeConditionEvents(nil, created.Status.Conditions)
		return created, nil
	case err != nil:
		return nil, fmt.Errorf("get node: %w", err)
	}
	// The node exists (an agent restart, or registered before): keep it,
	// fill in what is ours.
	cidr, err := a.choosePodCIDR(ctx, node)
	if err != nil {
		return nil, err
	}
	a.podCIDR = cidr
	want := a.initialNode()
	changed := false
	if node.Spec.PodCIDR == "" {
		node.Spec.PodCIDR, node.Spec.PodCIDRs = want.Spec.PodCIDR, want.Spec.PodCIDRs
		changed = true
	}
	for _, m := range []*map[string]string{&node.Labels, &node.Annotations} {
		if *m == nil {
			*m = map[string]string{}
		}
	}
	for k, v := range want.Labels {
		if node.Labels[k] != v {
			node.Labels[k], changed = v, true
		}
	}
	for k, v := range want.Annotations {
		if _, ok := node.Annotations[k]; !ok {
			node.Annotations[k], changed = v, true
		}
	}
	if changed {
		if node, err = nodes.Update(ctx, node, metav1.UpdateOptions{}); err != nil {
			return nil, fmt.Errorf("update node: %w", err)
		}
	}
	before := node.Status.Conditions
	node.Status = a.nodeStatus(ctx, node, runtimeVersion)
	updated, err := nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("update node status: %w", err)
	}
	a.recordNodeConditionEvents(before, updated.Status.Conditions)
	return updated, nil
}

// initialNode is the Node the agent registers: upstream's well-known
// labels and annotations, and the pod CIDR.
func (a *Agent) initialNode() *corev1.Node {
	labels := map[string]string{
		corev1.LabelHostname:      a.cfg.NodeName,
		corev1.LabelOSStable:      goruntime.GOOS,
		corev1.LabelArchStable:    goruntime.GOARCH,
		"beta.kubernetes.io/os":   goruntime.GOOS,
		"beta.kubernetes.io/arch": goruntime.GOARCH,
	}
	for k, v := range a.cfg.Labels {
		labels[k] = v
	}
	cidr := a.podCIDR.String()
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:   a.cfg.NodeName,
			Labels: labels,
			Annotations: map[string]string{
				"volumes.kubernetes.io/controller-managed-attach-detach": "true",
				"node.alpha.kubernetes.io/ttl":                           "0",
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: cidr, PodCIDRs: []string{cidr}},
	}
}

// SettlePodCIDR decides a node's pod CIDR before its agent runs (a real
// runtime's network needs it first): configured if set, else the
// existing Node's spec.podCIDR, else a /24 of 10.42.0.0/16 derived from
// the name and not held by another node. Pass the result as
// Config.PodCIDR.
func SettlePodCIDR(ctx context.Context, client kubernetes.Interface, nodeName, configured string) (netip.Prefix, error) {
	a := &Agent{cfg: Config{NodeName: nodeName, PodCIDR: configured}, client: client}
	node, err := client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node, err = nil, nil
	}
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("get node %s: %w", nodeName, err)
	}
	return a.choosePodCIDR(ctx, node)
}

// choosePodCIDR: the configured CIDR, else the Node's, else a /24 of
// 10.42.0.0/16 derived from the node's name, moved along past those
// other nodes already hold.
func (a *Agent) choosePodCIDR(ctx context.Context, node *corev1.Node) (netip.Prefix, error) {
	if a.cfg.PodCIDR != "" {
		p, err := netip.ParsePrefix(a.cfg.PodCIDR)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("pod CIDR %q: %w", a.cfg.PodCIDR, err)
		}
		return p.Masked(), nil
	}
	if node != nil && node.Spec.PodCIDR != "" {
		p, err := netip.ParsePrefix(node.Spec.PodCIDR)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("node's pod CIDR %q: %w", node.Spec.PodCIDR, err)
		}
		return p.Masked(), nil
	}
	list, err := a.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("list nodes' pod CIDRs: %w", err)
	}
	taken := map[string]bool{}
	for _, n := range list.Items {
		if n.Name != a.cfg.NodeName {
			taken[n.Spec.PodCIDR] = true
		}
	}
	return pickPodCIDR(a.cfg.NodeName, taken)
}

// pickPodCIDR is the deterministic part of choosePodCIDR.
func pickPodCIDR(nodeName string, taken map[string]bool) (netip.Prefix, error) {
	h := fnv.New32a()
	h.Write([]byte(nodeName))
	start := int(h.Sum32() % 256)
	base := defaultPodNetwork.Addr().As4()
	for i := range 256 {
		n := (start + i) % 256
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{base[0], base[1], byte(n), 0}), 24)
		if !taken[p.String()] {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("every /24 of %s is taken", defaultPodNetwork)
}

// machineIP is the address of the interface that holds the default
// route (no packet is sent), else the first usable interface address.
func machineIP() string {
	if c, err := net.Dial("udp4", "192.0.2.1:9"); err == nil {
		defer c.Close()
		if ua, ok := c.LocalAddr().(*net.UDPAddr); ok && !ua.IP.IsLoopback() {
			return ua.IP.String()
		}
	}
	addrs, _ := net.InterfaceAddrs()
	for _, ad := range addrs {
		if n, ok := ad.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	return "127.0.0.1"
}

// nodeStatus is the node's status now; old's conditions keep their
// transition times when unchanged.
func (a *Agent) nodeStatus(ctx context.Context, old *corev1.Node, runtimeVersion string) corev1.NodeStatus {
	m := a.machine
	capacity, allocatable := m.capacity()
	now := metav1.NewTime(a.clock.Now().Truncate(time.Second))
	ready, msg, err := a.rt.Status(ctx)
	if err != nil {
		ready, msg = false, err.Error()
	}
	readyCond := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"}
	if !ready {
		readyCond = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady",
			Message: "container runtime is not ready: " + msg}
	}
	conds := []corev1.NodeCondition{
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
		readyCond,
	}
	for i := range conds {
		c := &conds[i]
		c.LastHeartbeatTime, c.LastTransitionTime = now, now
		if old == nil {
			continue
		}
		for _, o := range old.Status.Conditions {
			if o.Type == c.Type && o.Status == c.Status && !o.LastTransitionTime.IsZero() {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
	}
	st := corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: allocatable,
		Phase:       "",
		Conditions:  conds,
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: a.hostIPs[0]},
			{Type: corev1.NodeHostName, Address: a.cfg.NodeName},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID: m.MachineID, SystemUUID: m.SystemUUID, BootID: m.BootID,
			KernelVersion: m.KernelVersion, OSImage: m.OSImage,
			ContainerRuntimeVersion: runtimeVersion, KubeletVersion: KubeletVersion,
			OperatingSystem: goruntime.GOOS, Architecture: goruntime.GOARCH,
		},
		Images: a.nodeImages(ctx),
	}
	if old != nil {
		st.VolumesInUse, st.VolumesAttached = old.Status.VolumesInUse, old.Status.VolumesAttached
	}
	return st
}

// maxNodeImages is upstream's default cap on status.images.
const maxNodeImages = 50

// nodeImages lists the runtime's images, largest first, as upstream
// reports them (digests, then tags).
func (a *Agent) nodeImages(ctx context.Context) []corev1.ContainerImage {
	imgs, err := a.rt.ListImages(ctx)
	if err != nil {
		a.log.Warn("list images", "err", err)
		return nil
	}
	slices.SortFunc(imgs, func(x, y *runtime.Image) int {
		if x.Size != y.Size {
			if x.Size > y.Size {
				return -1
			}
			return 1
		}
		return cmp.Compare(x.ID, y.ID)
	})
	var out []corev1.ContainerImage
	for _, img := range imgs {
		names := append(slices.Clone(img.RepoDigests), img.RepoTags...)
		if len(names) == 0 {
			continue
		}
		out = append(out, corev1.ContainerImage{Names: names, SizeBytes: int64(img.Size)})
		if len(out) == maxNodeImages {
			break
		}
	}
	return out
}

// syncNodeStatus posts the node's status when it changes, and at least
// every NodeStatusReport; the Lease is the heartbeat in between, as
// upstream does.
func (a *Agent) syncNodeStatus(ctx context.Context) {
	t := time.NewTicker(a.cfg.NodeStatusCheck) // real time, like relist
	defer t.Stop()
	var lastPosted corev1.NodeStatus
	lastReport := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		node, err := a.client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			a.log.Warn("get node for status", "err", err)
			continue
		}
		name, version, err := a.rt.Version(ctx)
		if err != nil {
			a.log.Warn("runtime version", "err", err)
			continue
		}
		st := a.nodeStatus(ctx, node, name+"://"+version)
		if sameNodeStatus(st, node.Status) && sameNodeStatus(st, lastPosted) && time.Since(lastReport) < a.cfg.NodeStatusReport {
			continue
		}
		before := node.Status.Conditions
		node.Status = st
		if _, err := a.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
			a.log.Warn("update node status", "err", err)
			continue
		}
		a.recordNodeConditionEvents(before, st.Conditions)
		lastPosted, lastReport = st, time.Now()
	}
}

// nodeRef is what the kubelet's node events are about: upstream's
// kubelet names its Node with the node's name as UID (kubectl describe
// node looks for both that and the real UID).
func (a *Agent) nodeRef() *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Node", Name: a.cfg.NodeName, UID: types.UID(a.cfg.NodeName)}
}

// nodeConditionEvents are upstream's kubelet event reasons for a node
// condition entering a status.
var nodeConditionEvents = map[corev1.NodeConditionType]map[corev1.ConditionStatus]string{
	corev1.NodeMemoryPressure: {corev1.ConditionFalse: "NodeHasSufficientMemory", corev1.ConditionTrue: "NodeHasInsufficientMemory"},
	corev1.NodeDiskPressure:   {corev1.ConditionFalse: "NodeHasNoDiskPressure", corev1.ConditionTrue: "NodeHasDiskPressure"},
	corev1.NodePIDPressure:    {corev1.ConditionFalse: "NodeHasSufficientPID", corev1.ConditionTrue: "NodeHasInsufficientPID"},
	corev1.NodeReady:          {corev1.ConditionTrue: "NodeReady", corev1.ConditionFalse: "NodeNotReady"},
}

// recordNodeConditionEvents records, as upstream's kubelet does when it
// posts a status, one event per condition whose status the post changed
// ("Node n status is now: NodeReady"), so kubectl describe node shows
// the node's history.
func (a *Agent) recordNodeConditionEvents(before, after []corev1.NodeCondition) {
	if a.recorder == nil {
		return
	}
	for _, c := range after {
		changed := true
		for _, o := range before {
			if o.Type == c.Type {
				changed = o.Status != c.Status
			}
		}
		if reason := nodeConditionEvents[c.Type][c.Status]; changed && reason != "" {
			a.recorder.Eventf(a.nodeRef(), corev1.EventTypeNormal, reason, "Node %s status is now: %s", a.cfg.NodeName, reason)
		}
	}
}

// sameNodeStatus compares statuses without heartbeat times.
func sameNodeStatus(a, b corev1.NodeStatus) bool {
	strip := func(s corev1.NodeStatus) corev1.NodeStatus {
		s = *s.DeepCopy()
		for i := range s.Conditions {
			s.Conditions[i].LastHeartbeatTime = metav1.Time{}
		}
		return s
	}
	return apiequality.Semantic.DeepEqual(strip(a), strip(b))
}

// renewLease keeps the node's Lease in kube-node-lease fresh: renewed
// every quarter of its duration (10 s for upstream's 40 s), retried
// sooner after a failure.
func (a *Agent) renewLease(ctx context.Context) {
	interval := a.cfg.LeaseDuration / 4
	var lease *coordinationv1.Lease
	for {
		var err error
		lease, err = a.writeLease(ctx, lease)
		next := interval
		if err != nil {
			a.log.Warn("renew lease", "err", err)
			lease, next = nil, min(time.Second, interval)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(next): // real time, like relist
		}
	}
}

func (a *Agent) writeLease(ctx context.Context, last *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	leases := a.client.CoordinationV1().Leases(NodeLeaseNamespace)
	now := metav1.NewMicroTime(a.clock.Now())
	if last != nil {
		l := last.DeepCopy()
		l.Spec.RenewTime = &now
		out, err := leases.Update(ctx, l, metav1.UpdateOptions{})
		if err == nil {
			return out, nil
		}
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	holder := a.cfg.NodeName
	seconds := int32(a.cfg.LeaseDuration / time.Second)
	spec := coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &seconds, RenewTime: &now}
	owner := []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: a.cfg.NodeName, UID: a.nodeUID}}
	l, err := leases.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Namespace: NodeLeaseNamespace, OwnerReferences: owner},
			Spec:       spec,
		}, metav1.CreateOptions{})
	case err != nil:
		return nil, err
	}
	l.Spec = spec
	l.OwnerReferences = owner
	return leases.Update(ctx, l, metav1.UpdateOptions{})
}
