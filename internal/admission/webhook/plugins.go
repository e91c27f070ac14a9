package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/internal/admission"
)

// Mutating is the MutatingAdmissionWebhook plug-in.
type Mutating struct {
	dispatcher
	defaults Defaulter
}

// Validating is the ValidatingAdmissionWebhook plug-in.
type Validating struct {
	dispatcher
}

var (
	_ admission.Mutator   = (*Mutating)(nil)
	_ admission.Validator = (*Validating)(nil)
)

// NewMutating returns the mutating plug-in; src.Configurations holds
// MutatingWebhookConfigurations. defaults may be nil.
func NewMutating(src Sources, defaults Defaulter) *Mutating {
	return &Mutating{dispatcher: dispatcher{src: src, client: newClient(src.Services, src.EndpointSlices), mutating: true}, defaults: defaults}
}

// NewValidating returns the validating plug-in; src.Configurations holds
// ValidatingWebhookConfigurations.
func NewValidating(src Sources) *Validating {
	return &Validating{dispatcher: dispatcher{src: src, client: newClient(src.Services, src.EndpointSlices)}}
}

// Name is the plug-in's upstream name.
func (*Mutating) Name() string { return MutatingName }

// Name is the plug-in's upstream name.
func (*Validating) Name() string { return ValidatingName }

// call sends a to h. It returns the webhook's allowing response, or nil
// when the call was skipped; a denial as the API error to return; and an
// *errCalling when no usable answer came (failurePolicy decides).
func (d *dispatcher) call(ctx context.Context, h *hook, a *admission.Attributes) (*admissionv1.AdmissionResponse, error) {
	if ok, err := d.conds.match(ctx, h.matchConditions, a); err != nil {
		return nil, &errCalling{h.name, err}
	} else if !ok {
		return nil, nil
	}
	if a.DryRun && !noSideEffectsOnDryRun(h.sideEffects) {
		return nil, dryRunUnsupported(h.name)
	}
	if h.selectorErr != nil {
		return nil, &errCalling{h.name, h.selectorErr}
	}
	version, err := reviewVersion(h.reviewVersions)
	if err != nil {
		return nil, &errCalling{h.name, err}
	}
	review, err := newReview(a, version)
	if err != nil {
		return nil, &errCalling{h.name, err}
	}
	answer, err := d.client.post(ctx, h, review)
	if err != nil {
		return nil, &errCalling{h.name, err}
	}
	resp, err := checkResponse(review, answer, version, d.mutating)
	if err != nil {
		return nil, &errCalling{h.name, err}
	}
	for _, w := range resp.Warnings {
		a.AddWarning(w)
	}
	for k, v := range resp.AuditAnnotations {
		a.AddAnnotation(h.name+"/"+k, v)
	}
	if !resp.Allowed {
		return nil, denied(a, h.name, resp.Result)
	}
	return resp, nil
}

// failurePolicy turns a failure to call h into the request's outcome:
// ignored under Ignore, a 500 under Fail. Other errors pass unchanged.
func failurePolicy(h *hook, a *admission.Attributes, err error) error {
	var ce *errCalling
	if !errors.As(err, &ce) {
		return err
	}
	if h.failOpen {
		slog.Warn("admission webhook failed, failing open", "webhook", h.name, "configuration", h.config,
			"resource", a.Resource.String(), "namespace", a.Namespace, "name", a.Name, "err", ce.err)
		return nil
	}
	return apierrors.NewInternalError(ce)
}

// Admit calls the matching mutating webhooks one after the other, each
// seeing the previous ones' changes. A webhook with reinvocationPolicy
// IfNeeded is called once more if a later webhook changed the object.
func (p *Mutating) Admit(ctx context.Context, a *admission.Attributes) error {
	hooks, err := p.matching(ctx, a)
	if err != nil || len(hooks) == 0 {
		return err
	}
	changes := 0
	seenAt := make(map[*hook]int, len(hooks))
	for i, h := range hooks {
		changed, err := p.mutate(ctx, h, a, 0, i)
		if err != nil {
			return err
		}
		if changed {
			changes++
		}
		seenAt[h] = changes
	}
	for i, h := range hooks {
		if h.reinvokeIfNeeded && seenAt[h] < changes {
			if _, err := p.mutate(ctx, h, a, 1, i); err != nil {
				return err
			}
		}
	}
	return nil
}

// mutate calls h and applies its patch; it reports whether the object
// changed.
func (p *Mutating) mutate(ctx context.Context, h *hook, a *admission.Attributes, round, index int) (bool, error) {
	resp, err := p.call(ctx, h, a)
	if err != nil || resp == nil {
		return false, failurePolicy(h, a, err)
	}
	if len(resp.Patch) == 0 || a.Object == nil {
		return false, nil
	}
	if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		var pt admissionv1.PatchType
		if resp.PatchType != nil {
			pt = *resp.PatchType
		}
		return false, failurePolicy(h, a, &errCalling{h.name, fmt.Errorf("unsupported patch type %q", pt)})
	}
	patched, err := applyPatch(a, resp.Patch)
	if err != nil {
		return false, apierrors.NewInternalError(fmt.Errorf("admission webhook %q: %w", h.name, err))
	}
	if p.defaults != nil {
		p.defaults(a.Resource, patched)
	}
	changed := !equality.Semantic.DeepEqual(a.Object, patched)
	if err := replaceObject(a.Object, patched); err != nil {
		return false, apierrors.NewInternalError(err)
	}
	if changed {
		note, _ := json.Marshal(map[string]any{"configuration": h.config, "webhook": h.name, "mutated": true})
		a.AddAnnotation(fmt.Sprintf("mutation.webhook.admission.k8s.io/round_%d_index_%d", round, index), string(note))
	}
	return changed, nil
}

// applyPatch applies a JSONPatch to a.Object and decodes the result into
// a new object of the same type, keeping the original's TypeMeta.
func applyPatch(a *admission.Attributes, patch []byte) (runtime.Object, error) {
	raw, err := rawObject(a.Object, a.Kind)
	if err != nil {
		return nil, err
	}
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return nil, fmt.Errorf("decode patch: %w", err)
	}
	out, err := p.Apply(raw.Raw)
	if err != nil {
		return nil, fmt.Errorf("apply patch: %w", err)
	}
	t := reflect.TypeOf(a.Object)
	if t.Kind() != reflect.Pointer {
		return nil, fmt.Errorf("cannot patch %T", a.Object)
	}
	obj, ok := reflect.New(t.Elem()).Interface().(runtime.Object)
	if !ok {
		return nil, fmt.Errorf("cannot patch %T", a.Object)
	}
	if err := json.Unmarshal(out, obj); err != nil {
		return nil, fmt.Errorf("decode patched object: %w", err)
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk != a.Kind && !gvk.Empty() {
		return nil, fmt.Errorf("patch changed the object's kind to %s", gvk)
	}
	obj.GetObjectKind().SetGroupVersionKind(a.Object.GetObjectKind().GroupVersionKind())
	return obj, nil
}

// Validate calls the matching validating webhooks in parallel; the first
// refusal in configuration order is the answer.
func (p *Validating) Validate(ctx context.Context, a *admission.Attributes) error {
	hooks, err := p.matching(ctx, a)
	if err != nil || len(hooks) == 0 {
		return err
	}
	// The webhooks only read a; its warning and annotation sinks are
	// serialized, since the caller's need not be safe for concurrent use.
	var mu sync.Mutex
	shared := *a
	shared.Warn = func(msg string) { mu.Lock(); defer mu.Unlock(); a.AddWarning(msg) }
	shared.Annotate = func(k, v string) { mu.Lock(); defer mu.Unlock(); a.AddAnnotation(k, v) }
	errs := make([]error, len(hooks))
	var wg sync.WaitGroup
	for i, h := range hooks {
		wg.Go(func() {
			_, err := p.call(ctx, h, &shared)
			errs[i] = failurePolicy(h, &shared, err)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
