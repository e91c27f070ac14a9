package apiserver

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"skiff.dev/skiff/internal/admission"
	"skiff.dev/skiff/internal/registry"
	"skiff.dev/skiff/internal/storage"
)

// maxGenerateNameLen: generateName is truncated so that the generated name
// (plus 5 random characters) stays within 63 characters, as upstream.
const maxGenerateNameLen = 58

// writeOptions are the options every write carries.
type writeOptions struct {
	dryRun       bool
	fieldManager string
}

// prepareCreate turns a decoded object into what is stored: system metadata
// set, client-settable-only fields reset, defaults applied, validated.
func (s *Server) prepareCreate(ctx context.Context, res *resource, obj runtime.Object, namespace string, dryRun bool) error {
	m := objectMeta(obj)
	if res.def.Namespaced {
		if m.GetNamespace() == "" {
			m.SetNamespace(namespace)
		} else if namespace != "" && m.GetNamespace() != namespace {
			return errBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else {
		m.SetNamespace("")
	}
	if m.GetName() == "" && m.GetGenerateName() != "" {
		base := m.GetGenerateName()
		if len(base) > maxGenerateNameLen {
			base = base[:maxGenerateNameLen]
		}
		m.SetName(base + utilrand.String(5))
	}
	m.SetUID(uuid.NewUUID())
	m.SetCreationTimestamp(metav1.NewTime(s.now().Truncate(1e9)))
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetResourceVersion("")
	m.SetSelfLink("")
	if res.def.HasGeneration {
		m.SetGeneration(1)
	} else {
		m.SetGeneration(0)
	}
	if res.def.HasStatus && !res.def.KeepStatusOnCreate {
		resetStatus(obj)
	}
	res.def.Strategy.Default(obj)
	res.def.Strategy.PrepareForCreate(ctx, obj)
	attrs := s.admissionFor(ctx, res, admission.Create, "", obj, nil, dryRun)
	if err := s.admit(ctx, attrs); err != nil {
		return err
	}
	errs := s.validateMeta(ctx, res, obj, nil)
	errs = append(errs, res.def.Strategy.Validate(ctx, obj)...)
	if len(errs) > 0 {
		return errInvalid(res.gvk.GroupKind(), m.GetName(), errs)
	}
	if err := admitWrite(ctx, res, obj, nil); err != nil {
		return err
	}
	if err := s.admitValidate(ctx, attrs); err != nil {
		return err
	}
	if wf, ok := res.def.Strategy.(registry.WarningsFunc); ok {
		addContextWarnings(ctx, wf.Warnings(ctx, obj, nil)...)
	}
	return nil
}

func (s *Server) validateMeta(ctx context.Context, res *resource, obj, old runtime.Object) field.ErrorList {
	if mv, ok := res.def.Strategy.(registry.MetaValidator); ok {
		return mv.ValidateMeta(ctx, obj, old)
	}
	m := objectMeta(obj)
	if old != nil {
		errs := validation.ValidateObjectMetaAccessorUpdate(m, objectMeta(old), field.NewPath("metadata"))
		return append(errs, validation.ValidateObjectMetaAccessor(m, res.def.Namespaced, validation.NameIsDNSSubdomain, field.NewPath("metadata"))...)
	}
	return validation.ValidateObjectMetaAccessor(m, res.def.Namespaced, validation.NameIsDNSSubdomain, field.NewPath("metadata"))
}

// create stores a new object. It returns the stored object.
func (s *Server) create(ctx context.Context, res *resource, obj runtime.Object, namespace string, opts writeOptions) (runtime.Object, error) {
	if err := s.prepareCreate(ctx, res, obj, namespace, opts.dryRun); err != nil {
		return nil, err
	}
	if err := s.checkNamespace(ctx, res, objectMeta(obj).GetNamespace()); err != nil {
		return nil, err
	}
	if err := s.allocateUnlessDry(ctx, res, obj, nil, opts.dryRun); err != nil {
		return nil, err
	}
	var err error
	if obj, err = s.trackCreate(res, obj, opts.fieldManager); err != nil {
		return nil, err
	}
	return s.storeCreate(ctx, res, obj, opts.dryRun)
}

func (s *Server) storeCreate(ctx context.Context, res *resource, obj runtime.Object, dryRun bool) (runtime.Object, error) {
	m := objectMeta(obj)
	if dryRun {
		return obj, nil
	}
	data, err := res.encode(obj)
	if err != nil {
		return nil, err
	}
	rev, err := s.cfg.Store.Create(ctx, res.key(m.GetNamespace(), m.GetName()), data)
	if errors.Is(err, storage.ErrKeyExists) {
		s.release(res, obj)
		return nil, apierrors.NewAlreadyExists(res.gr, m.GetName())
	}
	if err != nil {
		s.release(res, obj)
		return nil, fmt.Errorf("create %s %s: %w", res, m.GetName(), err)
	}
	m.SetResourceVersion(fmt.Sprint(rev))
	return obj, nil
}

// checkNamespace refuses creates in a namespace that does not exist or is
// being deleted, as upstream's NamespaceLifecycle admission.
func (s *Server) checkNamespace(ctx context.Context, res *resource, namespace string) error {
	if !res.def.Namespaced {
		return nil
	}
	nsRes := s.resources[coreV1]["namespaces"]
	if nsRes == nil {
		return nil
	}
	obj, ok := nsRes.cacheGet(nsRes.key("", namespace))
	if !ok {
		var err error
		if obj, err = nsRes.get(ctx, "", namespace); err != nil {
			if apierrors.IsNotFound(err) {
				return apierrors.NewNotFound(nsRes.gr, namespace)
			}
			return err
		}
	}
	if objectMeta(obj).GetDeletionTimestamp() != nil {
		err := apierrors.NewForbidden(res.gr, "", fmt.Errorf("unable to create new content in namespace %s because it is being terminated", namespace))
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
			Type: "NamespaceTerminating", Field: "metadata.namespace", Message: fmt.Sprintf("namespace %s is being terminated", namespace),
		})
		return err
	}
	return nil
}

// errConflict is upstream's 409 for a stale resourceVersion.
func errConflict(res *resource, name string) error {
	return apierrors.NewConflict(res.gr, name, errors.New("the object has been modified; please apply your changes to the latest version and try again"))
}

// updateFunc computes the new object from the current one (nil when the
// object does not exist). managed reports that it already maintained
// managedFields (server-side apply).
type updateFunc func(ctx context.Context, cur runtime.Object) (obj runtime.Object, managed bool, err error)

// updateRequest is one update, patch, apply or status write.
type updateRequest struct {
	res         *resource
	namespace   string
	name        string
	subresource string // "" or "status"
	compute     updateFunc
	// allowCreate: a missing object is created (PUT on resources that
	// allow it, and server-side apply).
	allowCreate bool
	opts        writeOptions
}

// maxUpdateRetries bounds the optimistic-concurrency loop of writes that
// carry no resourceVersion precondition.
const maxUpdateRetries = 16

// update runs an optimistic-concurrency update: read, compute, validate,
// compare-and-swap; on a lost race with no precondition from the client it
// retries. It returns the stored object and whether it was created.
func (s *Server) update(ctx context.Context, u updateRequest) (runtime.Object, bool, error) {
	res := u.res
	for attempt := 0; ; attempt++ {
		cur, err := res.get(ctx, u.namespace, u.name)
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, false, err
		}
		if cur == nil {
			if !u.allowCreate || u.subresource != "" {
				return nil, false, err
			}
			obj, managed, err := u.compute(ctx, nil)
			if err != nil {
				return nil, false, err
			}
			objectMeta(obj).SetResourceVersion("")
			if err := s.prepareCreate(ctx, res, obj, u.namespace, u.opts.dryRun); err != nil {
				return nil, false, err
			}
			if objectMeta(obj).GetName() != u.name {
				return nil, false, errBadRequest("the name of the object (%s) does not match the name on the URL (%s)", objectMeta(obj).GetName(), u.name)
			}
			if err := s.checkNamespace(ctx, res, u.namespace); err != nil {
				return nil, false, err
			}
			if err := s.allocateUnlessDry(ctx, res, obj, nil, u.opts.dryRun); err != nil {
				return nil, false, err
			}
			if !managed {
				if obj, err = s.trackCreate(res, obj, u.opts.fieldManager); err != nil {
					return nil, false, err
				}
			}
			out, err := s.storeCreate(ctx, res, obj, u.opts.dryRun)
			if apierrors.IsAlreadyExists(err) && attempt < maxUpdateRetries {
				continue
			}
			return out, true, err
		}

		curRV := objectMeta(cur).GetResourceVersion()
		obj, managed, err := u.compute(ctx, copyObj(cur))
		if err != nil {
			return nil, false, err
		}
		m := objectMeta(obj)
		if m.GetName() != u.name {
			return nil, false, errBadRequest("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), u.name)
		}
		if res.def.Namespaced && m.GetNamespace() != "" && m.GetNamespace() != u.namespace {
			return nil, false, errBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
		precondition := m.GetResourceVersion()
		if precondition != "" && precondition != curRV {
			return nil, false, errConflict(res, u.name)
		}
		out, err := s.applyUpdate(ctx, u, cur, obj, managed)
		if errors.Is(err, storage.ErrConflict) {
			if precondition == "" || attempt < maxUpdateRetries && precondition == curRV {
				if attempt < maxUpdateRetries {
					continue
				}
			}
			return nil, false, errConflict(res, u.name)
		}
		return out, false, err
	}
}

// applyUpdate prepares, validates and stores obj over cur. It returns
// storage.ErrConflict when cur is no longer current.
func (s *Server) applyUpdate(ctx context.Context, u updateRequest, cur, obj runtime.Object, managed bool) (runtime.Object, error) {
	res := u.res
	m, cm := objectMeta(obj), objectMeta(cur)
	// statusLike: a subresource such as certificatesigningrequests/approval
	// that writes part of the status the way /status writes all of it.
	statusLike := u.subresource != "status" && slices.Contains(res.def.StatusSubresources, u.subresource)
	if u.subresource == "status" || statusLike {
		// A status write changes status and metadata, never the spec, as
		// upstream's status strategies (system metadata is reset below).
		copySpec(obj, cur)
		if sp, ok := res.def.Strategy.(registry.StatusPreparer); ok && !statusLike {
			sp.PrepareForStatusUpdate(obj, cur)
		}
		if sp, ok := res.def.Strategy.(registry.SubresourceStrategy); ok && statusLike {
			sp.PrepareForSubresourceUpdate(u.subresource, obj, cur)
		}
	} else if res.def.HasStatus && u.subresource == "" {
		copyStatus(obj, cur)
	}
	// System metadata is never taken from the client.
	m.SetNamespace(cm.GetNamespace())
	m.SetUID(cm.GetUID())
	m.SetCreationTimestamp(cm.GetCreationTimestamp())
	m.SetDeletionTimestamp(cm.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(cm.GetDeletionGracePeriodSeconds())
	m.SetGeneration(cm.GetGeneration())
	m.SetResourceVersion(cm.GetResourceVersion())
	m.SetSelfLink("")

	res.def.Strategy.Default(obj)
	if u.subresource == "" {
		res.def.Strategy.PrepareForUpdate(ctx, obj, cur)
	}
	attrs := s.admissionFor(ctx, res, admission.Update, u.subresource, obj, cur, u.opts.dryRun)
	if err := s.admit(ctx, attrs); err != nil {
		return nil, err
	}
	var errs field.ErrorList
	switch u.subresource {
	case "status":
		errs = s.validateMeta(ctx, res, obj, cur)
		if ss, ok := res.def.Strategy.(registry.StatusStrategy); ok {
			errs = append(errs, ss.ValidateStatusUpdate(ctx, obj, cur)...)
		}
	case "binding", "finalize":
		// The subresource handler made the only change (a pod's
		// spec.nodeName, a namespace's spec.finalizers), which the main
		// resource's update rules refuse from any other writer.
	default:
		if statusLike {
			errs = s.validateMeta(ctx, res, obj, cur)
			if ss, ok := res.def.Strategy.(registry.SubresourceStrategy); ok {
				errs = append(errs, ss.ValidateSubresourceUpdate(ctx, u.subresource, obj, cur)...)
			}
			break
		}
		errs = s.validateMeta(ctx, res, obj, cur)
		errs = append(errs, res.def.Strategy.ValidateUpdate(ctx, obj, cur)...)
		if wf, ok := res.def.Strategy.(registry.WarningsFunc); ok && len(errs) == 0 {
			addContextWarnings(ctx, wf.Warnings(ctx, obj, cur)...)
		}
	}
	if cm.GetDeletionTimestamp() != nil {
		errs = append(errs, validateNoNewFinalizers(m.GetFinalizers(), cm.GetFinalizers())...)
	}
	if len(errs) > 0 {
		return nil, errInvalid(res.gvk.GroupKind(), m.GetName(), errs)
	}
	if u.subresource == "" {
		if err := admitWrite(ctx, res, obj, cur); err != nil {
			return nil, err
		}
	}
	if err := s.admitValidate(ctx, attrs); err != nil {
		return nil, err
	}
	if res.def.HasGeneration && u.subresource == "" && !specEqual(obj, cur) {
		m.SetGeneration(cm.GetGeneration() + 1)
	}
	if err := s.allocateUnlessDry(ctx, res, obj, cur, u.opts.dryRun); err != nil {
		return nil, err
	}
	if !managed {
		var err error
		if obj, err = s.trackUpdate(res, u.subresource, cur, obj, u.opts.fieldManager); err != nil {
			return nil, err
		}
		m = objectMeta(obj)
	}

	key := res.key(cm.GetNamespace(), cm.GetName())
	rev := parseRev(cm.GetResourceVersion())
	// An object being deleted whose last finalizer is gone goes away now.
	if cm.GetDeletionTimestamp() != nil && len(m.GetFinalizers()) == 0 && gracePeriodOver(m) && !holdsDeletion(res, obj) {
		if u.opts.dryRun {
			return obj, nil
		}
		kv, err := s.cfg.Store.Delete(ctx, key, rev)
		if err != nil {
			return nil, err
		}
		s.release(res, obj)
		m.SetResourceVersion(fmt.Sprint(kv.ModRevision))
		return obj, nil
	}
	data, err := res.encode(obj)
	if err != nil {
		return nil, err
	}
	if u.opts.dryRun {
		return obj, nil
	}
	// A write that changes nothing is not a write: same resourceVersion,
	// no event, as upstream — unless the stored value is stale (encrypted
	// with a rotated-out key), which upstream rewrites too.
	if old, err := res.encode(cur); err == nil && string(old) == string(data) && !s.storedStale(ctx, key) {
		return cur, nil
	}
	newRev, err := s.cfg.Store.Update(ctx, key, data, rev)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, apierrors.NewNotFound(res.gr, cm.GetName())
	}
	if err != nil {
		return nil, err
	}
	m.SetResourceVersion(fmt.Sprint(newRev))
	return obj, nil
}

// storedStale reports whether the store holds key's value in a form it
// wants rewritten (storage.StaleChecker); an error reading it counts as
// not stale, and the write is skipped as any no-op.
func (s *Server) storedStale(ctx context.Context, key string) bool {
	sc, ok := s.cfg.Store.(storage.StaleChecker)
	if !ok {
		return false
	}
	stale, err := sc.Stale(ctx, key)
	return err == nil && stale
}

func validateNoNewFinalizers(newF, oldF []string) field.ErrorList {
	old := map[string]bool{}
	for _, f := range oldF {
		old[f] = true
	}
	var extra []string
	for _, f := range newF {
		if !old[f] {
			extra = append(extra, f)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	return field.ErrorList{field.Forbidden(field.NewPath("metadata", "finalizers"),
		fmt.Sprintf("no new finalizers can be added if the object is being deleted, found new finalizers %q", extra))}
}

// gracePeriodOver: an object with a pending graceful deletion (pods) is only
// removed by a delete with grace period 0, not by losing its finalizers.
func gracePeriodOver(m metav1.Object) bool {
	g := m.GetDeletionGracePeriodSeconds()
	return g == nil || *g == 0
}

func parseRev(rv string) int64 {
	var n int64
	for _, c := range rv {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// statusField returns the addressable Status field of obj, if any.
func statusField(obj runtime.Object) (reflect.Value, bool) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	f := v.Elem().FieldByName("Status")
	return f, f.IsValid() && f.CanSet()
}

func resetStatus(obj runtime.Object) {
	if f, ok := statusField(obj); ok {
		f.Set(reflect.Zero(f.Type()))
	}
}

// copyStatus sets dst.Status to src.Status (deep-copied).
func copyStatus(dst, src runtime.Object) {
	df, ok1 := statusField(dst)
	sf, ok2 := statusField(copyObj(src))
	if ok1 && ok2 {
		df.Set(sf)
	}
}

// copySpec sets every field of dst but TypeMeta, ObjectMeta and Status
// to a deep copy of src's.
func copySpec(dst, src runtime.Object) {
	vd, vs := reflect.ValueOf(dst).Elem(), reflect.ValueOf(copyObj(src)).Elem()
	t := vd.Type()
	for i := 0; i < t.NumField(); i++ {
		switch t.Field(i).Name {
		case "TypeMeta", "ObjectMeta", "Status":
			continue
		}
		vd.Field(i).Set(vs.Field(i))
	}
}

// specEqual compares everything but TypeMeta, ObjectMeta and Status: the
// "spec" whose changes bump metadata.generation.
func specEqual(a, b runtime.Object) bool {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	t := va.Type()
	for i := 0; i < t.NumField(); i++ {
		switch t.Field(i).Name {
		case "TypeMeta", "ObjectMeta", "Status":
			continue
		}
		if !equality.Semantic.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			return false
		}
	}
	return true
}

// gcFinalizers returns the finalizers obj must carry for the garbage
// collector after a delete with opts, and whether they differ from
// current: "orphan" when its dependents are to be orphaned, and
// "foregroundDeletion" when they must go first, as upstream's
// deletionFinalizersForGarbageCollection. An explicit policy beats a
// finalizer already present, which beats the resource's default.
func gcFinalizers(res *resource, current []string, opts *metav1.DeleteOptions) ([]string, bool) {
	if res.def.GCPolicy == registry.GCUnsupported {
		return current, false
	}
	orphan, foreground := false, false
	switch {
	case opts.OrphanDependents != nil: //nolint:staticcheck // still honoured, as upstream
		orphan = *opts.OrphanDependents //nolint:staticcheck
	case opts.PropagationPolicy != nil:
		orphan = *opts.PropagationPolicy == metav1.DeletePropagationOrphan
		foreground = *opts.PropagationPolicy == metav1.DeletePropagationForeground
	case slices.Contains(current, metav1.FinalizerOrphanDependents):
		orphan = true
	case slices.Contains(current, metav1.FinalizerDeleteDependents):
		foreground = true
	default:
		orphan = res.def.GCPolicy == registry.GCOrphan
	}
	out := make([]string, 0, len(current)+1)
	for _, f := range current {
		if f != metav1.FinalizerOrphanDependents && f != metav1.FinalizerDeleteDependents {
			out = append(out, f)
		}
	}
	if orphan {
		out = append(out, metav1.FinalizerOrphanDependents)
	}
	if foreground {
		out = append(out, metav1.FinalizerDeleteDependents)
	}
	if sets.New(out...).Equal(sets.New(current...)) {
		return current, false
	}
	return out, true
}

// deleteResult says what a delete did.
type deleteResult struct {
	obj     runtime.Object
	deleted bool // false: marked for graceful deletion or waiting on finalizers
}

// delete removes an object, or marks it for deletion when finalizers or a
// grace period (pods) say it must wait.
func (s *Server) delete(ctx context.Context, res *resource, namespace, name string, opts *metav1.DeleteOptions, dryRun bool) (deleteResult, error) {
	for attempt := 0; ; attempt++ {
		cur, err := res.get(ctx, namespace, name)
		if err != nil {
			return deleteResult{}, err
		}
		m := objectMeta(cur)
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != m.GetUID() {
				return deleteResult{}, apierrors.NewConflict(res.gr, name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, m.GetUID()))
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
				return deleteResult{}, apierrors.NewConflict(res.gr, name, fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, m.GetResourceVersion()))
			}
		}
		attrs := s.admissionFor(ctx, res, admission.Delete, "", nil, cur, dryRun)
		if attrs != nil {
			attrs.Options = opts
		}
		if err := s.admitValidate(ctx, attrs); err != nil {
			return deleteResult{}, err
		}
		grace := s.gracePeriod(res, cur, opts)
		rev := parseRev(m.GetResourceVersion())
		key := res.key(m.GetNamespace(), m.GetName())
		holder, _ := res.def.Strategy.(registry.DeletionHolder)
		held := holder != nil && holder.HoldsDeletion(cur)
		obj := copyObj(cur)
		om := objectMeta(obj)
		finalizers, gcChanged := gcFinalizers(res, m.GetFinalizers(), opts)
		if gcChanged {
			om.SetFinalizers(finalizers)
		}
		if len(om.GetFinalizers()) > 0 || grace > 0 || held {
			if holder != nil {
				holder.BeginDeletion(obj)
			}
			now := metav1.NewTime(s.now().Truncate(1e9))
			if om.GetDeletionTimestamp() == nil {
				ts := metav1.NewTime(now.Add(secondsDuration(grace)))
				om.SetDeletionTimestamp(&ts)
				om.SetDeletionGracePeriodSeconds(&grace)
			} else if g := om.GetDeletionGracePeriodSeconds(); g != nil && grace < *g {
				// A shorter grace period may replace a longer one.
				ts := metav1.NewTime(now.Add(secondsDuration(grace)))
				om.SetDeletionTimestamp(&ts)
				om.SetDeletionGracePeriodSeconds(&grace)
			} else if !gcChanged {
				return deleteResult{obj: cur}, nil
			}
			if len(om.GetFinalizers()) == 0 && grace == 0 && !held {
				break // a shortened grace period of 0: delete now
			}
			if dryRun {
				return deleteResult{obj: obj}, nil
			}
			data, err := res.encode(obj)
			if err != nil {
				return deleteResult{}, err
			}
			newRev, err := s.cfg.Store.Update(ctx, key, data, rev)
			if errors.Is(err, storage.ErrConflict) && attempt < maxUpdateRetries {
				continue
			}
			if errors.Is(err, storage.ErrNotFound) {
				return deleteResult{}, apierrors.NewNotFound(res.gr, name)
			}
			if err != nil {
				return deleteResult{}, err
			}
			om.SetResourceVersion(fmt.Sprint(newRev))
			return deleteResult{obj: obj}, nil
		}
		if dryRun {
			return deleteResult{obj: cur, deleted: true}, nil
		}
		kv, err := s.cfg.Store.Delete(ctx, key, rev)
		if errors.Is(err, storage.ErrConflict) && attempt < maxUpdateRetries {
			continue
		}
		if errors.Is(err, storage.ErrNotFound) {
			return deleteResult{}, apierrors.NewNotFound(res.gr, name)
		}
		if err != nil {
			return deleteResult{}, err
		}
		s.release(res, cur)
		m.SetResourceVersion(fmt.Sprint(kv.ModRevision))
		return deleteResult{obj: cur, deleted: true}, nil
	}
	// Reached by the shortened-grace break above: delete unconditionally.
	kv, err := s.cfg.Store.Delete(ctx, res.key(namespace, name), 0)
	if errors.Is(err, storage.ErrNotFound) {
		return deleteResult{}, apierrors.NewNotFound(res.gr, name)
	}
	if err != nil {
		return deleteResult{}, err
	}
	obj, err := res.decode(kv.Value, kv.ModRevision)
	if err != nil {
		return deleteResult{}, err
	}
	s.release(res, obj)
	return deleteResult{obj: obj, deleted: true}, nil
}

var coreV1 = schemaGV("", "v1")

func statusSuccess(res *resource, obj runtime.Object) *metav1.Status {
	m := objectMeta(obj)
	return &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusSuccess,
		Details:  &metav1.StatusDetails{Name: m.GetName(), Group: res.gr.Group, Kind: res.gr.Resource, UID: types.UID(m.GetUID())},
	}
}

func managerFromUserAgent(ua string) string {
	if i := strings.IndexByte(ua, '/'); i > 0 {
		ua = ua[:i]
	}
	if len(ua) > 128 {
		ua = ua[:128]
	}
	return ua
}

func holdsDeletion(res *resource, obj runtime.Object) bool {
	h, ok := res.def.Strategy.(registry.DeletionHolder)
	return ok && h.HoldsDeletion(obj)
}
