package statefulset

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"skiff.dev/skiff/internal/controller/history"
)

// Labels the controller puts on its pods, as upstream.
const (
	podNameLabel  = appsv1.StatefulSetPodNameLabel // statefulset.kubernetes.io/pod-name
	podIndexLabel = appsv1.PodIndexLabel           // apps.kubernetes.io/pod-index
)

var ordinalRE = regexp.MustCompile("(.*)-([0-9]+)$")

// parentAndOrdinal splits "<parent>-<ordinal>"; ordinal -1 if the name
// has none.
func parentAndOrdinal(name string) (string, int) {
	m := ordinalRE.FindStringSubmatch(name)
	if len(m) != 3 {
		return "", -1
	}
	i, err := strconv.ParseInt(m[2], 10, 32)
	if err != nil {
		return "", -1
	}
	return m[1], int(i)
}

func ordinalOf(p *corev1.Pod) int { _, o := parentAndOrdinal(p.Name); return o }

// isMemberOf: the pod's name is "<set>-<ordinal>".
func isMemberOf(set *appsv1.StatefulSet, p *corev1.Pod) bool {
	parent, _ := parentAndOrdinal(p.Name)
	return parent == set.Name
}

func podName(set *appsv1.StatefulSet, ordinal int) string {
	return fmt.Sprintf("%s-%d", set.Name, ordinal)
}

// claimName is "<template>-<set>-<ordinal>".
func claimName(t *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, ordinal int) string {
	return fmt.Sprintf("%s-%s-%d", t.Name, set.Name, ordinal)
}

func startOrdinal(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals != nil {
		return int(set.Spec.Ordinals.Start)
	}
	return 0
}

func replicas(set *appsv1.StatefulSet) int {
	if set.Spec.Replicas == nil {
		return 1
	}
	return int(*set.Spec.Replicas)
}

// inRange: the ordinal is one the set should run.
func inRange(set *appsv1.StatefulSet, ordinal int) bool {
	s := startOrdinal(set)
	return ordinal >= s && ordinal < s+replicas(set)
}

// claims are the PVCs the pod of ordinal mounts, keyed by template name,
// labelled with the set's selector labels as upstream.
func claims(set *appsv1.StatefulSet, ordinal int) map[string]*corev1.PersistentVolumeClaim {
	out := make(map[string]*corev1.PersistentVolumeClaim, len(set.Spec.VolumeClaimTemplates))
	for i := range set.Spec.VolumeClaimTemplates {
		t := &set.Spec.VolumeClaimTemplates[i]
		c := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{
				Name: claimName(t, set, ordinal), Namespace: set.Namespace,
				Labels: copyMap(t.Labels), Annotations: copyMap(t.Annotations),
			},
			Spec: *t.Spec.DeepCopy(),
		}
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		if set.Spec.Selector != nil {
			for k, v := range set.Spec.Selector.MatchLabels {
				c.Labels[k] = v
			}
		}
		out[t.Name] = c
	}
	return out
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// setIdentity gives p its stable identity: name, labels, hostname and
// subdomain.
func setIdentity(set *appsv1.StatefulSet, p *corev1.Pod, ordinal int) {
	p.Name = podName(set, ordinal)
	p.Namespace = set.Namespace
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[podNameLabel] = p.Name
	p.Labels[podIndexLabel] = strconv.Itoa(ordinal)
	p.Spec.Hostname = p.Name
	p.Spec.Subdomain = set.Spec.ServiceName
}

// identityMatches: p has the identity setIdentity gives.
func identityMatches(set *appsv1.StatefulSet, p *corev1.Pod) bool {
	parent, ordinal := parentAndOrdinal(p.Name)
	return ordinal >= 0 && parent == set.Name && p.Namespace == set.Namespace &&
		p.Labels[podNameLabel] == p.Name && p.Labels[podIndexLabel] == strconv.Itoa(ordinal) &&
		p.Spec.Hostname == p.Name && p.Spec.Subdomain == set.Spec.ServiceName
}

// storageMatches: every claim template has its volume pointing at the
// ordinal's claim.
func storageMatches(set *appsv1.StatefulSet, p *corev1.Pod) bool {
	ordinal := ordinalOf(p)
	vols := map[string]corev1.Volume{}
	for _, v := range p.Spec.Volumes {
		vols[v.Name] = v
	}
	for name, c := range claims(set, ordinal) {
		v, ok := vols[name]
		if !ok || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != c.Name {
			return false
		}
	}
	return true
}

// setStorage replaces the pod's volumes named after claim templates with
// the ordinal's claims.
func setStorage(set *appsv1.StatefulSet, p *corev1.Pod) {
	cs := claims(set, ordinalOf(p))
	vols := make([]corev1.Volume, 0, len(p.Spec.Volumes)+len(cs))
	for _, v := range p.Spec.Volumes {
		if _, ok := cs[v.Name]; !ok {
			vols = append(vols, v)
		}
	}
	for i := range set.Spec.VolumeClaimTemplates {
		name := set.Spec.VolumeClaimTemplates[i].Name
		vols = append(vols, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: cs[name].Name},
		}})
	}
	p.Spec.Volumes = vols
}

// newPod is the pod of ordinal from set's template, owned by set and
// labelled with revision.
func newPod(set *appsv1.StatefulSet, ordinal int, revision string) *corev1.Pod {
	t := set.Spec.Template.DeepCopy()
	p := &corev1.Pod{ObjectMeta: t.ObjectMeta, Spec: t.Spec}
	p.Labels = copyMap(t.Labels)
	p.OwnerReferences = []metav1.OwnerReference{*newControllerRef(set)}
	setIdentity(set, p, ordinal)
	setStorage(set, p)
	p.Labels[history.HashLabel] = revision
	return p
}

func newControllerRef(set *appsv1.StatefulSet) *metav1.OwnerReference {
	t := true
	return &metav1.OwnerReference{APIVersion: controllerKind.GroupVersion().String(), Kind: controllerKind.Kind,
		Name: set.Name, UID: set.UID, Controller: &t, BlockOwnerDeletion: &t}
}

// revisionPatch is what a revision stores: the template, replacing the
// set's, as upstream's getPatch (so the hash is upstream's too).
func revisionPatch(set *appsv1.StatefulSet) ([]byte, error) {
	raw, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	spec, _ := obj["spec"].(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	if tmpl == nil {
		tmpl = map[string]any{}
	}
	tmpl["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": tmpl}})
}

// fromRevision is set with the template revision holds.
func fromRevision(set *appsv1.StatefulSet, rev *appsv1.ControllerRevision) (*appsv1.StatefulSet, error) {
	raw, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	patched, err := strategicpatch.StrategicMergePatch(raw, rev.Data.Raw, set)
	if err != nil {
		return nil, fmt.Errorf("apply revision %s: %w", rev.Name, err)
	}
	out := &appsv1.StatefulSet{}
	if err := json.Unmarshal(patched, out); err != nil {
		return nil, fmt.Errorf("decode revision %s: %w", rev.Name, err)
	}
	return out, nil
}

func podRevision(p *corev1.Pod) string { return p.Labels[history.HashLabel] }

func isCreated(p *corev1.Pod) bool     { return p.Status.Phase != "" }
func isFailed(p *corev1.Pod) bool      { return p.Status.Phase == corev1.PodFailed }
func isSucceeded(p *corev1.Pod) bool   { return p.Status.Phase == corev1.PodSucceeded }
func isTerminating(p *corev1.Pod) bool { return p.DeletionTimestamp != nil }

func isRunningAndReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func isRunningAndAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	if !isRunningAndReady(p) {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return !c.LastTransitionTime.IsZero() && !c.LastTransitionTime.Add(time.Duration(minReadySeconds)*time.Second).After(now)
		}
	}
	return false
}

// isHealthy: running and ready, and not being deleted.
func isHealthy(p *corev1.Pod) bool { return isRunningAndReady(p) && !isTerminating(p) }

// computeStatus counts set's pods as upstream's computeReplicaStatus.
func computeStatus(set *appsv1.StatefulSet, pods []*corev1.Pod, current, update string, now time.Time) appsv1.StatefulSetStatus {
	st := appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation, CurrentRevision: current, UpdateRevision: update,
		CollisionCount: set.Status.CollisionCount,
	}
	for _, p := range pods {
		if isCreated(p) {
			st.Replicas++
		}
		if isRunningAndReady(p) {
			st.ReadyReplicas++
			if isRunningAndAvailable(p, set.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
		if isCreated(p) && !isTerminating(p) {
			if podRevision(p) == current {
				st.CurrentReplicas++
			}
			if podRevision(p) == update {
				st.UpdatedReplicas++
			}
		}
	}
	// A finished rolling update: the update revision becomes current.
	if set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType &&
		st.UpdatedReplicas == st.Replicas && st.ReadyReplicas == st.Replicas {
		st.CurrentRevision = st.UpdateRevision
		st.CurrentReplicas = st.UpdatedReplicas
	}
	return st
}

// claimRefs says which owner references the retention policy wants on the
// claims of a pod: to the set (deleted with it) and to the pod (deleted
// with it on scale-down), as upstream's updateClaimOwnerRefForSetAndPod.
func claimRefs(set *appsv1.StatefulSet, ordinal int) (toSet, toPod bool) {
	policy := set.Spec.PersistentVolumeClaimRetentionPolicy
	whenDeleted, whenScaled := appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	if policy != nil {
		if policy.WhenDeleted != "" {
			whenDeleted = policy.WhenDeleted
		}
		if policy.WhenScaled != "" {
			whenScaled = policy.WhenScaled
		}
	}
	condemned := !inRange(set, ordinal)
	del := appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	toPod = whenScaled == del && condemned
	toSet = whenDeleted == del && !toPod
	return toSet, toPod
}
