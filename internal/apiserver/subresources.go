package apiserver

import (
	"context"
	"fmt"
	"net/http"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/registry"
	"skiff.dev/skiff/internal/registry/core"
)

var scaleGVK = schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}

func (s *Server) toScale(res *resource, obj runtime.Object) *autoscalingv1.Scale {
	m := objectMeta(obj)
	spec, status, selector := res.def.Scale.Get(obj)
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
		ObjectMeta: metav1.ObjectMeta{Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
			ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp()},
		Spec:   autoscalingv1.ScaleSpec{Replicas: spec},
		Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: selector},
	}
}

// serveScale serves /scale: a Scale view of spec.replicas.
func (s *Server) serveScale(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	ctx := r.Context()
	switch info.Verb {
	case "get":
		obj, err := res.get(ctx, info.Namespace, info.Name)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeScale(w, r, http.StatusOK, s.toScale(res, obj))
		return
	case "update", "patch":
	default:
		s.writeError(w, r, errMethodNotSupported(schema.GroupResource{Group: res.gr.Group, Resource: res.gr.Resource + "/scale"}, info.Verb))
		return
	}
	opts, err := writeOpts(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	compute := func(ctx context.Context, cur runtime.Object) (runtime.Object, bool, error) {
		if cur == nil {
			return nil, false, apierrors.NewNotFound(res.gr, info.Name)
		}
		curScale := s.toScale(res, cur)
		var scale *autoscalingv1.Scale
		if info.Verb == "update" {
			scale = &autoscalingv1.Scale{}
			if err := s.decodeInto(r, body, scale, scaleGVK); err != nil {
				return nil, false, err
			}
		} else {
			scaleRes := &resource{def: &registry.Resource{Kind: "Scale", New: func() runtime.Object { return &autoscalingv1.Scale{} }},
				gvk: scaleGVK, gr: res.gr, codecs: s.codecs}
			patched, _, err := s.mergePatch(r, scaleRes, patchType(r), curScale, body, validationIgnore)
			if err != nil {
				return nil, false, err
			}
			scale = patched.(*autoscalingv1.Scale)
		}
		if scale.Name != "" && scale.Name != info.Name {
			return nil, false, errBadRequest("the name of the object (%s) does not match the name on the URL (%s)", scale.Name, info.Name)
		}
		if scale.Spec.Replicas < 0 {
			return nil, false, apierrors.NewInvalid(scaleGVK.GroupKind(), info.Name,
				field.ErrorList{field.Invalid(field.NewPath("spec", "replicas"), scale.Spec.Replicas, "must be greater than or equal to 0")})
		}
		if scale.ResourceVersion != "" && scale.ResourceVersion != curScale.ResourceVersion {
			return nil, false, errConflict(res, info.Name)
		}
		res.def.Scale.Set(cur, scale.Spec.Replicas)
		objectMeta(cur).SetResourceVersion("")
		return cur, false, nil
	}
	out, _, err := s.update(ctx, updateRequest{res: res, namespace: info.Namespace, name: info.Name, compute: compute, opts: opts})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeScale(w, r, http.StatusOK, s.toScale(res, out))
}

func patchType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	for _, mt := range []string{mediaJSONPatch, mediaMergePatch, mediaStrategicPatch} {
		if len(ct) >= len(mt) && ct[:len(mt)] == mt {
			return mt
		}
	}
	return mediaMergePatch
}

func (s *Server) writeScale(w http.ResponseWriter, r *http.Request, code int, sc *autoscalingv1.Scale) {
	out, ok := negotiateOutput(r.Header.Get("Accept"), false)
	if !ok {
		out = outputFormat{mediaType: mediaJSON}
	}
	s.writeObject(w, r, code, out, sc)
}

// serveBinding assigns a pod to a node (the scheduler's write).
func (s *Server) serveBinding(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	opts, err := writeOpts(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := &corev1.Binding{}
	gvk := corev1.SchemeGroupVersion.WithKind("Binding")
	if err := s.decodeInto(r, body, b, gvk); err != nil {
		s.writeError(w, r, err)
		return
	}
	if b.Name != "" && b.Name != info.Name {
		s.writeError(w, r, errBadRequest("the name of the object (%s) does not match the name on the URL (%s)", b.Name, info.Name))
		return
	}
	if b.Target.Name == "" {
		s.writeError(w, r, apierrors.NewInvalid(gvk.GroupKind(), info.Name, field.ErrorList{field.Required(field.NewPath("target", "name"), "")}))
		return
	}
	compute := func(ctx context.Context, cur runtime.Object) (runtime.Object, bool, error) {
		if cur == nil {
			return nil, false, apierrors.NewNotFound(res.gr, info.Name)
		}
		pod := cur.(*corev1.Pod)
		if b.UID != "" && b.UID != pod.UID {
			return nil, false, apierrors.NewConflict(res.gr, info.Name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", b.UID, pod.UID))
		}
		if pod.DeletionTimestamp != nil {
			return nil, false, apierrors.NewConflict(res.gr, info.Name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", info.Name))
		}
		if pod.Spec.NodeName != "" {
			return nil, false, apierrors.NewConflict(res.gr, info.Name, fmt.Errorf("pod %s is already assigned to node %q", info.Name, pod.Spec.NodeName))
		}
		pod.Spec.NodeName = b.Target.Name
		for k, v := range b.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodCondition(pod, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(s.now())})
		pod.ResourceVersion = ""
		return pod, false, nil
	}
	// Binding writes spec.nodeName and a status condition: a full-object
	// write that bypasses the status split.
	if _, _, err := s.update(r.Context(), updateRequest{res: res, namespace: info.Namespace, name: info.Name, subresource: "binding", compute: compute, opts: opts}); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, http.StatusCreated, outputFormat{mediaType: mediaJSON}, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

func setPodCondition(pod *corev1.Pod, c corev1.PodCondition) {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == c.Type {
			pod.Status.Conditions[i] = c
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, c)
}

// serveEviction deletes a pod unless a PodDisruptionBudget forbids it.
func (s *Server) serveEviction(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := &policyv1.Eviction{}
	if err := s.decodeInto(r, body, ev, policyv1.SchemeGroupVersion.WithKind("Eviction")); err != nil {
		s.writeError(w, r, err)
		return
	}
	if ev.Name != "" && ev.Name != info.Name {
		s.writeError(w, r, errBadRequest("name in URL does not match name in Eviction object"))
		return
	}
	ctx := r.Context()
	opts := ev.DeleteOptions
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	dry := false
	for _, v := range opts.DryRun {
		dry = v == "All"
	}
	if err := s.admitSubresourceCreate(ctx, res, "eviction", info.Namespace, info.Name, ev, policyv1.SchemeGroupVersion.WithKind("Eviction"), dry); err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, err := res.get(ctx, info.Namespace, info.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pod := obj.(*corev1.Pod)
	terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	if !terminal && pod.DeletionTimestamp == nil {
		pdb, err := s.checkDisruptionBudgets(ctx, pod)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if pdb != nil && !dry {
			if err := s.takeDisruption(ctx, pdb, pod.Name, managerFromUserAgent(r.UserAgent())); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
	}
	if _, err := s.delete(ctx, res, info.Namespace, info.Name, opts, dry); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, http.StatusCreated, outputFormat{mediaType: mediaJSON}, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

// checkDisruptionBudgets refuses an eviction that a matching budget does not
// currently allow (429, as upstream; the client retries). It returns the
// budget that allows it, if one matches. The budgets are read consistently,
// as upstream lists them from etcd: a cache that has not yet seen the
// disruption controller's last status write would refuse an eviction the
// budget allows.
func (s *Server) checkDisruptionBudgets(ctx context.Context, pod *corev1.Pod) (*policyv1.PodDisruptionBudget, error) {
	pdbRes := s.resources[schemaGV("policy", "v1")]["poddisruptionbudgets"]
	if pdbRes == nil {
		return nil, nil
	}
	if err := s.waitCache(ctx, "", 0); err != nil {
		return nil, err
	}
	items, _ := pdbRes.cacheList(pdbRes.listPrefix(pod.Namespace), nil)
	var matching []*policyv1.PodDisruptionBudget
	for _, o := range items {
		pdb := o.(*policyv1.PodDisruptionBudget)
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		matching = append(matching, pdb)
	}
	if len(matching) > 1 {
		return nil, apierrors.NewInternalError(fmt.Errorf("this pod has more than one PodDisruptionBudget, which the eviction subresource does not support"))
	}
	if len(matching) == 0 {
		return nil, nil
	}
	if err := disruptionAllowed(matching[0]); err != nil {
		return nil, err
	}
	return matching[0], nil
}

// disruptionAllowed is nil when pdb's status allows one more disruption.
func disruptionAllowed(pdb *policyv1.PodDisruptionBudget) error {
	if pdb.Status.ObservedGeneration < pdb.Generation || pdb.Status.DisruptionsAllowed <= 0 {
		err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 10)
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type: "DisruptionBudget", Message: fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", pdb.Name, pdb.Status.DesiredHealthy, pdb.Status.CurrentHealthy)})
		return err
	}
	return nil
}

// takeDisruption records an eviction in the budget's status before the pod
// goes, as upstream: one fewer disruption allowed and the pod in
// disruptedPods (until the disruption controller sees it gone), written
// with compare-and-swap, so evictions racing each other (a parallel drain)
// cannot together exceed the budget.
func (s *Server) takeDisruption(ctx context.Context, pdb *policyv1.PodDisruptionBudget, podName, manager string) error {
	pdbRes := s.resources[schemaGV("policy", "v1")]["poddisruptionbudgets"]
	now := metav1.NewTime(s.now().Truncate(1e9))
	_, _, err := s.update(ctx, updateRequest{
		res: pdbRes, namespace: pdb.Namespace, name: pdb.Name, subresource: "status",
		opts: writeOptions{fieldManager: manager},
		compute: func(_ context.Context, cur runtime.Object) (runtime.Object, bool, error) {
			if cur == nil {
				return nil, false, apierrors.NewNotFound(pdbRes.gr, pdb.Name)
			}
			p := cur.(*policyv1.PodDisruptionBudget)
			if p.UID != pdb.UID {
				return nil, false, apierrors.NewConflict(pdbRes.gr, pdb.Name, fmt.Errorf("the disruption budget was replaced"))
			}
			if err := disruptionAllowed(p); err != nil {
				return nil, false, err
			}
			p.Status.DisruptionsAllowed--
			if p.Status.DisruptedPods == nil {
				p.Status.DisruptedPods = map[string]metav1.Time{}
			}
			p.Status.DisruptedPods[podName] = now
			p.ResourceVersion = "" // no precondition: retried on a fresh copy
			return p, false, nil
		},
	})
	return err
}

// serveFinalize replaces a namespace's spec.finalizers (the namespace
// controller's last step before the namespace goes away).
func (s *Server) serveFinalize(w http.ResponseWriter, r *http.Request, res *resource, info requestInfo) {
	opts, err := writeOpts(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ns := &corev1.Namespace{}
	if err := s.decodeInto(r, body, ns, corev1.SchemeGroupVersion.WithKind("Namespace")); err != nil {
		s.writeError(w, r, err)
		return
	}
	if ns.Name != "" && ns.Name != info.Name {
		s.writeError(w, r, errBadRequest("the name of the object (%s) does not match the name on the URL (%s)", ns.Name, info.Name))
		return
	}
	compute := func(ctx context.Context, cur runtime.Object) (runtime.Object, bool, error) {
		if cur == nil {
			return nil, false, apierrors.NewNotFound(res.gr, info.Name)
		}
		c := cur.(*corev1.Namespace)
		if ns.ResourceVersion != "" && ns.ResourceVersion != c.ResourceVersion {
			return nil, false, errConflict(res, info.Name)
		}
		c.Spec.Finalizers = ns.Spec.Finalizers
		if errs := core.ValidateNamespaceFinalizers(c); len(errs) > 0 {
			return nil, false, errInvalid(res.gvk.GroupKind(), info.Name, errs)
		}
		c.ResourceVersion = ""
		return c, false, nil
	}
	out, _, err := s.update(r.Context(), updateRequest{res: res, name: info.Name, subresource: "finalize", compute: compute, opts: opts})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.respond(w, r, res, http.StatusOK, out)
}
