package openapi

import (
	"reflect"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// route is one URL path with its operations, in a form both the v2 and the
// v3 renderers turn into their own structures.
type route struct {
	path   string
	params []param // path-level: name, namespace, pretty
	ops    []operation
}

type operation struct {
	method      string // get, put, post, patch, delete
	id          string
	description string
	tag         string
	action      string                   // x-kubernetes-action; "" for discovery
	gvk         *schema.GroupVersionKind // x-kubernetes-group-version-kind
	params      []param
	body        reflect.Type // request body; nil when none
	bodyReq     bool
	patch       bool // body is a patch: consumes the patch media types
	list        bool // responds with a list or a watch stream
	responses   []response
}

type response struct {
	code        int
	description string
	body        reflect.Type // nil for 401
}

type param struct {
	name, in, typ, description string
	required                   bool
}

var (
	typeStatus          = reflect.TypeFor[metav1.Status]()
	typeDeleteOptions   = reflect.TypeFor[metav1.DeleteOptions]()
	typePatch           = reflect.TypeFor[metav1.Patch]()
	typeWatchEvent      = reflect.TypeFor[metav1.WatchEvent]()
	typeAPIResourceList = reflect.TypeFor[metav1.APIResourceList]()
)

// Media types the operations declare. kubectl apply requires
// application/strategic-merge-patch+json among the PATCH body types before
// it builds a strategic merge patch from the schema.
var (
	producesObject = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	producesList   = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf",
		"application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"}
	consumesPatch = []string{"application/json-patch+json", "application/merge-patch+json",
		"application/strategic-merge-patch+json", "application/apply-patch+yaml"}
	consumesAny = []string{"*/*"}
)

// Query parameters. The descriptions are ours; the names and types are the
// API's.
var (
	paramPretty = param{name: "pretty", in: "query", typ: "string",
		description: "If 'true', the output is pretty-printed."}
	paramDryRun = param{name: "dryRun", in: "query", typ: "string",
		description: "When present, the request is processed without persisting anything. The only valid value is All."}
	paramFieldManagerWrite = param{name: "fieldManager", in: "query", typ: "string",
		description: "Name of the actor making these changes, recorded in managedFields; at most 128 printable characters."}
	paramFieldManagerPatch = param{name: "fieldManager", in: "query", typ: "string",
		description: "Name of the actor making these changes, recorded in managedFields; at most 128 printable characters. Required for apply patches."}
	paramFieldValidation = param{name: "fieldValidation", in: "query", typ: "string",
		description: "How the server treats unknown and duplicate fields in the request body: Ignore drops them silently, Warn (the default) drops them with a warning header, Strict rejects the request."}
	paramForce = param{name: "force", in: "query", typ: "boolean",
		description: "For apply patches only: take ownership of fields managed by others instead of failing with a conflict."}
	paramGracePeriod = param{name: "gracePeriodSeconds", in: "query", typ: "integer",
		description: "Seconds to wait before deleting the object; zero deletes immediately, unset uses the object's default."}
	paramOrphan = param{name: "orphanDependents", in: "query", typ: "boolean",
		description: "Deprecated: use propagationPolicy. Whether dependents are orphaned instead of garbage collected."}
	paramPropagation = param{name: "propagationPolicy", in: "query", typ: "string",
		description: "Garbage collection of dependents: Orphan, Background or Foreground."}
	paramIgnoreStoreErr = param{name: "ignoreStoreReadErrorWithClusterBreakingPotential", in: "query", typ: "boolean",
		description: "Delete an object that cannot be read from storage, bypassing finalizers and preconditions. Unsafe."}

	listParams = []param{
		{name: "allowWatchBookmarks", in: "query", typ: "boolean",
			description: "Ask for BOOKMARK events in a watch; servers may ignore it."},
		{name: "continue", in: "query", typ: "string",
			description: "The continue token of a previous paged list with the same parameters, to fetch the next page."},
		{name: "fieldSelector", in: "query", typ: "string",
			description: "Restrict the returned objects by their fields. Defaults to everything."},
		{name: "labelSelector", in: "query", typ: "string",
			description: "Restrict the returned objects by their labels. Defaults to everything."},
		{name: "limit", in: "query", typ: "integer",
			description: "Maximum number of objects to return in one page; the response's continue token fetches the rest."},
		{name: "resourceVersion", in: "query", typ: "string",
			description: "Constrains which resource versions the request may be served from; see resourceVersionMatch."},
		{name: "resourceVersionMatch", in: "query", typ: "string",
			description: "How resourceVersion applies to a list: Exact or NotOlderThan."},
		{name: "sendInitialEvents", in: "query", typ: "boolean",
			description: "With watch=true, begin the stream with synthetic ADDED events for the current state, then a bookmark."},
		{name: "timeoutSeconds", in: "query", typ: "integer",
			description: "Timeout of the list or watch call, regardless of activity."},
		{name: "watch", in: "query", typ: "boolean",
			description: "Watch for changes and return them as a stream of add, update and remove events."},
	}
)

// deleteReturnsObject lists the kinds whose DELETE answers with the object
// rather than a Status, as upstream's registry does (in every version).
var deleteReturnsObject = map[schema.GroupKind]bool{
	{Kind: "Pod"}: true, {Kind: "PersistentVolumeClaim"}: true, {Kind: "PodTemplate"}: true,
	{Kind: "ResourceQuota"}: true, {Kind: "ServiceAccount"}: true, {Kind: "Service"}: true,
	{Kind: "PersistentVolume"}:                   true,
	{Group: "storage.k8s.io", Kind: "CSIDriver"}: true, {Group: "storage.k8s.io", Kind: "CSINode"}: true,
	{Group: "storage.k8s.io", Kind: "StorageClass"}: true, {Group: "storage.k8s.io", Kind: "VolumeAttachment"}: true,
	{Group: "storage.k8s.io", Kind: "VolumeAttributesClass"}: true,
	{Group: "resource.k8s.io", Kind: "DeviceClass"}:          true, {Group: "resource.k8s.io", Kind: "ResourceClaim"}: true,
	{Group: "resource.k8s.io", Kind: "ResourceClaimTemplate"}: true, {Group: "resource.k8s.io", Kind: "ResourceSlice"}: true,
	{Group: "resource.k8s.io", Kind: "DeviceTaintRule"}:           true,
	{Group: "resource.k8s.io", Kind: "ResourcePoolStatusRequest"}: true,
}

// groupCamel is the group as it appears in operation IDs: "Core",
// "Apps", "RbacAuthorization".
func groupCamel(group string) string {
	if group == "" {
		return "Core"
	}
	group = strings.TrimSuffix(group, ".k8s.io")
	var b strings.Builder
	for _, part := range strings.FieldsFunc(group, func(r rune) bool { return r == '.' || r == '-' }) {
		b.WriteString(upperFirst(part))
	}
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func gvTag(gv schema.GroupVersion) string {
	return lowerFirst(groupCamel(gv.Group)) + "_" + gv.Version
}

// routesFor returns the routes of one group-version: its discovery path and
// the collection, item and subresource paths of each kind.
func routesFor(gv schema.GroupVersion, kinds []Kind) []route {
	prefix := "/" + gvPath(gv)
	tag := gvTag(gv)
	gvID := groupCamel(gv.Group) + upperFirst(gv.Version)
	routes := []route{{
		path:   prefix + "/",
		params: nil,
		ops: []operation{{
			method: "get", id: "get" + gvID + "APIResources", description: "get available resources", tag: tag,
			responses: []response{{200, "OK", typeAPIResourceList}},
		}},
	}}
	for _, k := range kinds {
		if k.GVK.GroupVersion() != gv || k.Resource == "" {
			continue
		}
		routes = append(routes, kindRoutes(prefix, tag, gvID, k)...)
	}
	for i := range routes {
		routes[i] = hoistParams(routes[i])
	}
	return routes
}

func kindRoutes(prefix, tag, gvID string, k Kind) []route {
	verbs := k.verbs()
	gvk := k.GVK
	kind := gvk.Kind
	scope, nsParams := "", []param(nil)
	collection := prefix + "/" + k.Resource
	if k.Namespaced {
		scope = "Namespaced"
		nsParams = []param{{name: "namespace", in: "path", typ: "string", required: true,
			description: "object name and auth scope, such as for teams and projects"}}
		collection = prefix + "/namespaces/{namespace}/" + k.Resource
	}
	nameParam := param{name: "name", in: "path", typ: "string", required: true, description: "name of the " + kind}
	op := func(method, verb, action, desc string, t reflect.Type) operation {
		return operation{method: method, id: verb + gvID + scope + kind, description: desc, tag: tag, action: action, gvk: &gvk, body: t}
	}
	var routes []route

	coll := route{path: collection, params: append(append([]param{}, nsParams...), paramPretty)}
	if hasVerb(verbs, "list") && k.ListType != nil {
		o := op("get", "list", "list", "list or watch objects of kind "+kind, nil)
		o.params, o.list = listParams, true
		o.responses = []response{{200, "OK", k.ListType}}
		coll.ops = append(coll.ops, o)
		if k.Namespaced {
			all := o
			all.id = "list" + gvID + kind + "ForAllNamespaces"
			routes = append(routes, route{path: prefix + "/" + k.Resource, params: []param{paramPretty}, ops: []operation{all}})
		}
	}
	if hasVerb(verbs, "create") {
		o := op("post", "create", "post", "create "+article(kind)+" "+kind, k.Type)
		o.bodyReq = true
		o.params = []param{paramDryRun, paramFieldManagerWrite, paramFieldValidation}
		o.responses = []response{{200, "OK", k.Type}, {201, "Created", k.Type}, {202, "Accepted", k.Type}}
		coll.ops = append(coll.ops, o)
	}
	if hasVerb(verbs, "deletecollection") {
		o := op("delete", "delete", "deletecollection", "delete collection of "+kind, typeDeleteOptions)
		o.id = "delete" + gvID + "Collection" + scope + kind
		o.params = []param{paramDryRun, paramGracePeriod, paramIgnoreStoreErr, paramOrphan, paramPropagation}
		for _, p := range listParams {
			// A collection delete lists but does not watch.
			if p.name != "watch" && p.name != "allowWatchBookmarks" {
				o.params = append(o.params, p)
			}
		}
		o.responses = []response{{200, "OK", typeStatus}}
		coll.ops = append(coll.ops, o)
	}
	if len(coll.ops) > 0 {
		routes = append(routes, coll)
	}

	item := route{path: collection + "/{name}", params: append(append([]param{nameParam}, nsParams...), paramPretty)}
	if hasVerb(verbs, "get") {
		o := op("get", "read", "get", "read the specified "+kind, nil)
		o.responses = []response{{200, "OK", k.Type}}
		item.ops = append(item.ops, o)
	}
	if hasVerb(verbs, "update") {
		item.ops = append(item.ops, replaceOp(op("put", "replace", "put", "replace the specified "+kind, k.Type)))
	}
	if hasVerb(verbs, "patch") {
		item.ops = append(item.ops, patchOp(op("patch", "patch", "patch", "partially update the specified "+kind, typePatch), k.Type))
	}
	if hasVerb(verbs, "delete") {
		o := op("delete", "delete", "delete", "delete "+article(kind)+" "+kind, typeDeleteOptions)
		o.params = []param{paramDryRun, paramGracePeriod, paramIgnoreStoreErr, paramOrphan, paramPropagation}
		res := typeStatus
		if deleteReturnsObject[gvk.GroupKind()] {
			res = k.Type
		}
		o.responses = []response{{200, "OK", res}, {202, "Accepted", res}}
		item.ops = append(item.ops, o)
	}
	if len(item.ops) > 0 {
		routes = append(routes, item)
	}

	for _, sub := range k.Subresources {
		routes = append(routes, subresourceRoute(item, k, sub, op))
	}
	return routes
}

func subresourceRoute(item route, k Kind, sub Subresource, op func(method, verb, action, desc string, t reflect.Type) operation) route {
	t, gvk := sub.Type, sub.GVK
	if t == nil {
		t, gvk = k.Type, k.GVK
	}
	if gvk.Kind == "" {
		gvk = k.GVK
	}
	suffix := upperFirst(sub.Name)
	what := sub.Name + " of the specified " + k.GVK.Kind
	r := route{path: item.path + "/" + sub.Name, params: item.params}
	sop := func(method, verb, action, desc string, body reflect.Type) operation {
		o := op(method, verb, action, desc, body)
		o.id += suffix
		g := gvk
		o.gvk = &g
		return o
	}
	verbs := sub.verbs()
	if hasVerb(verbs, "create") {
		o := sop("post", "create", "post", "create "+sub.Name+" of "+article(k.GVK.Kind)+" "+k.GVK.Kind, t)
		o.bodyReq = true
		o.params = []param{paramDryRun, paramFieldManagerWrite, paramFieldValidation}
		o.responses = []response{{200, "OK", t}, {201, "Created", t}, {202, "Accepted", t}}
		r.ops = append(r.ops, o)
	}
	if hasVerb(verbs, "get") {
		o := sop("get", "read", "get", "read "+what, nil)
		o.responses = []response{{200, "OK", t}}
		r.ops = append(r.ops, o)
	}
	if hasVerb(verbs, "update") {
		r.ops = append(r.ops, replaceOp(sop("put", "replace", "put", "replace "+what, t)))
	}
	if hasVerb(verbs, "patch") {
		r.ops = append(r.ops, patchOp(sop("patch", "patch", "patch", "partially update "+what, typePatch), t))
	}
	return r
}

// hoistParams moves the query parameters every operation of r declares to
// the path level, sorted by name, as upstream's builder does.
func hoistParams(r route) route {
	if len(r.ops) == 0 {
		return r
	}
	common := map[param]int{}
	for _, o := range r.ops {
		for _, p := range o.params {
			common[p]++
		}
	}
	params := append([]param{}, r.params...)
	for p, n := range common {
		if n == len(r.ops) {
			params = append(params, p)
		}
	}
	sort.Slice(params, func(i, j int) bool { return params[i].name < params[j].name })
	r.params = params
	ops := make([]operation, len(r.ops))
	for i, o := range r.ops {
		var keep []param
		for _, p := range o.params {
			if common[p] != len(r.ops) {
				keep = append(keep, p)
			}
		}
		o.params = keep
		ops[i] = o
	}
	r.ops = ops
	return r
}

func replaceOp(o operation) operation {
	o.bodyReq = true
	o.params = []param{paramDryRun, paramFieldManagerWrite, paramFieldValidation}
	o.responses = []response{{200, "OK", o.body}, {201, "Created", o.body}}
	return o
}

func patchOp(o operation, result reflect.Type) operation {
	o.bodyReq, o.patch = true, true
	o.params = []param{paramDryRun, paramFieldManagerPatch, paramFieldValidation, paramForce}
	o.responses = []response{{200, "OK", result}, {201, "Created", result}}
	return o
}

func article(kind string) string {
	if kind != "" && strings.ContainsRune("AEIOU", rune(kind[0])) {
		return "an"
	}
	return "a"
}

// routeTypes returns every type the routes refer to, so their definitions
// are part of the document.
func routeTypes(routes []route) []reflect.Type {
	var out []reflect.Type
	for _, r := range routes {
		for _, o := range r.ops {
			if o.body != nil {
				out = append(out, o.body)
			}
			for _, res := range o.responses {
				if res.body != nil {
					out = append(out, res.body)
				}
			}
		}
	}
	return out
}
