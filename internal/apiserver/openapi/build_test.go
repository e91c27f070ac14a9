package openapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/kube-openapi/pkg/spec3"
	openapiproto "k8s.io/kube-openapi/pkg/util/proto"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

func buildTestSwagger(t *testing.T) *spec.Swagger {
	t.Helper()
	b, err := BuildV2(testKinds())
	if err != nil {
		t.Fatalf("BuildV2: %v", err)
	}
	var sw spec.Swagger
	if err := json.Unmarshal(b, &sw); err != nil {
		t.Fatalf("unmarshal v2: %v", err)
	}
	return &sw
}

// TestV2ParsesLikeClientGo parses the document the way client-go's
// discovery client and kubectl do: gnostic, protobuf round trip, then
// kube-openapi's proto models.
func TestV2ParsesLikeClientGo(t *testing.T) {
	b, err := BuildV2(testKinds())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi_v2.ParseDocument(b)
	if err != nil {
		t.Fatalf("gnostic ParseDocument: %v", err)
	}
	pb, err := proto.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var back openapi_v2.Document
	if err := proto.Unmarshal(pb, &back); err != nil {
		t.Fatal(err)
	}
	models, err := openapiproto.NewOpenAPIData(&back)
	if err != nil {
		t.Fatalf("NewOpenAPIData: %v", err)
	}
	pod := models.LookupModel("io.k8s.api.core.v1.Pod")
	if pod == nil {
		t.Fatal("no model for io.k8s.api.core.v1.Pod")
	}
	// kubectl's v2 fallback for apply reads patch metadata from the models.
	meta := strategicpatch.PatchMetaFromOpenAPI{Schema: pod}
	specMeta, _, err := meta.LookupPatchMetadataForStruct("spec")
	if err != nil {
		t.Fatal(err)
	}
	_, pm, err := specMeta.LookupPatchMetadataForSlice("containers")
	if err != nil {
		t.Fatal(err)
	}
	if pm.GetPatchMergeKey() != "name" || !reflect.DeepEqual(pm.GetPatchStrategies(), []string{"merge"}) {
		t.Errorf("containers patch meta = %q %v, want name [merge]", pm.GetPatchMergeKey(), pm.GetPatchStrategies())
	}
}

func TestV2PodSchema(t *testing.T) {
	sw := buildTestSwagger(t)
	pod, ok := sw.Definitions["io.k8s.api.core.v1.Pod"]
	if !ok {
		t.Fatal("no io.k8s.api.core.v1.Pod definition")
	}
	var gvks []map[string]string
	if err := pod.Extensions.GetObject(extGVK, &gvks); err != nil || len(gvks) != 1 ||
		gvks[0]["group"] != "" || gvks[0]["version"] != "v1" || gvks[0]["kind"] != "Pod" {
		t.Errorf("Pod %s = %v (err %v), want [{ v1 Pod}]", extGVK, gvks, err)
	}
	if ref := pod.Properties["spec"].Ref; ref.String() != "#/definitions/io.k8s.api.core.v1.PodSpec" {
		t.Errorf("Pod.spec ref = %q", ref.String())
	}
	podSpec := sw.Definitions["io.k8s.api.core.v1.PodSpec"]
	containers := podSpec.Properties["containers"]
	for ext, want := range map[string]any{
		extPatchKey:     "name",
		extPatchStrat:   "merge",
		extListType:     "map",
		extListMapKeys:  []any{"name"},
		"x-nonexistent": nil,
	} {
		if got := containers.Extensions[ext]; !reflect.DeepEqual(got, want) {
			t.Errorf("PodSpec.containers %s = %#v, want %#v", ext, got, want)
		}
	}
	if got := containers.Items.Schema.Ref.String(); got != "#/definitions/io.k8s.api.core.v1.Container" {
		t.Errorf("containers items ref = %q", got)
	}
	if !reflect.DeepEqual(podSpec.Required, []string{"containers"}) {
		t.Errorf("PodSpec required = %v, want [containers]", podSpec.Required)
	}
	if got := podSpec.Properties["nodeSelector"].Extensions[extMapType]; got != "atomic" {
		t.Errorf("nodeSelector map type = %v", got)
	}
	if d := sw.Definitions["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"].Description; d == "" {
		t.Error("ObjectMeta has no description")
	}
	if d := podSpec.Properties["restartPolicy"].Description; !strings.Contains(d, "Restart policy") {
		t.Errorf("restartPolicy description = %q", d)
	}
}

func TestV2SpecialTypes(t *testing.T) {
	sw := buildTestSwagger(t)
	tests := []struct {
		name, typ, format string
	}{
		{"io.k8s.apimachinery.pkg.apis.meta.v1.Time", "string", "date-time"},
		{"io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime", "string", "date-time"},
		{"io.k8s.apimachinery.pkg.api.resource.Quantity", "string", ""},
		{"io.k8s.apimachinery.pkg.util.intstr.IntOrString", "string", "int-or-string"},
		{"io.k8s.apimachinery.pkg.runtime.RawExtension", "object", ""},
		{"io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1", "object", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := sw.Definitions[tt.name]
			if !ok {
				t.Fatal("missing")
			}
			if len(s.Type) != 1 || s.Type[0] != tt.typ || s.Format != tt.format {
				t.Errorf("type %v format %q, want %s %q", s.Type, s.Format, tt.typ, tt.format)
			}
			if len(s.Properties) != 0 {
				t.Errorf("unexpected properties %v", s.Properties)
			}
			if s.Description == "" {
				t.Error("no description")
			}
		})
	}
	secret := sw.Definitions["io.k8s.api.core.v1.Secret"].Properties["data"]
	if v := secret.AdditionalProperties.Schema; v.Type[0] != "string" || v.Format != "byte" {
		t.Errorf("Secret.data values = %v %q, want string byte", v.Type, v.Format)
	}
	limits := sw.Definitions["io.k8s.api.core.v1.ResourceRequirements"].Properties["limits"]
	if got := limits.AdditionalProperties.Schema.Ref.String(); got != "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity" {
		t.Errorf("limits values ref = %q", got)
	}
}

func TestV2Paths(t *testing.T) {
	sw := buildTestSwagger(t)
	item, ok := sw.Paths.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
	if !ok {
		t.Fatal("no deployment item path")
	}
	if item.Patch == nil || item.Patch.ID != "patchAppsV1NamespacedDeployment" {
		t.Fatalf("patch operation = %+v", item.Patch)
	}
	if item.Patch.Extensions[extAction] != "patch" {
		t.Errorf("action = %v", item.Patch.Extensions[extAction])
	}
	if !hasString(item.Patch.Consumes, "application/strategic-merge-patch+json") {
		t.Errorf("patch consumes %v", item.Patch.Consumes)
	}
	var hasFV bool
	for _, p := range item.Patch.Parameters {
		hasFV = hasFV || (p.Name == "fieldValidation" && p.In == "query")
	}
	if !hasFV {
		t.Error("patch has no fieldValidation query parameter")
	}
	if _, ok := sw.Paths.Paths["/api/v1/pods"]; !ok {
		t.Error("no all-namespaces pod list path")
	}
	if _, ok := sw.Paths.Paths["/api/v1/nodes/{name}/status"]; !ok {
		t.Error("no node status path")
	}
	scale := sw.Paths.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
	if scale.Get == nil || scale.Get.Responses.StatusCodeResponses[200].Schema.Ref.String() != "#/definitions/io.k8s.api.autoscaling.v1.Scale" {
		t.Error("deployment scale does not answer with autoscaling/v1 Scale")
	}
	binding := sw.Paths.Paths["/api/v1/namespaces/{namespace}/bindings"]
	if binding.Post == nil || binding.Get != nil || binding.Delete != nil {
		t.Errorf("bindings should only be created: %+v", binding)
	}
}

func hasString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func buildTestV3(t *testing.T, key string) *spec3.OpenAPI {
	t.Helper()
	docs, err := BuildV3(testKinds())
	if err != nil {
		t.Fatal(err)
	}
	b, ok := docs[key]
	if !ok {
		t.Fatalf("no v3 document %q", key)
	}
	var doc spec3.OpenAPI
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("spec3 unmarshal %s: %v", key, err)
	}
	return &doc
}

func TestV3AppsDocument(t *testing.T) {
	doc := buildTestV3(t, "apis/apps/v1")
	if doc.Version != "3.0.0" {
		t.Errorf("openapi = %q", doc.Version)
	}
	dep, ok := doc.Components.Schemas["io.k8s.api.apps.v1.Deployment"]
	if !ok {
		t.Fatal("no Deployment schema")
	}
	var gvks []map[string]string
	if err := dep.Extensions.GetObject(extGVK, &gvks); err != nil || len(gvks) != 1 || gvks[0]["group"] != "apps" || gvks[0]["kind"] != "Deployment" {
		t.Errorf("Deployment gvk = %v (err %v)", gvks, err)
	}
	// v3 wraps a described $ref in allOf, and carries enforced defaults.
	spec := dep.Properties["spec"]
	if len(spec.AllOf) != 1 || spec.AllOf[0].Ref.String() != "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec" {
		t.Errorf("Deployment.spec = %+v", spec)
	}
	if !reflect.DeepEqual(spec.Default, map[string]any{}) {
		t.Errorf("Deployment.spec default = %#v, want {}", spec.Default)
	}
	port := doc.Components.Schemas["io.k8s.api.core.v1.ContainerPort"]
	if port.Properties["protocol"].Default != "TCP" {
		t.Errorf("ContainerPort.protocol default = %#v (from +default)", port.Properties["protocol"].Default)
	}
	ios := doc.Components.Schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
	if len(ios.OneOf) != 2 || len(ios.Type) != 0 {
		t.Errorf("v3 IntOrString = %+v, want oneOf integer/string", ios.SchemaProps)
	}
	// Every $ref resolves inside the document.
	b, _ := json.Marshal(doc)
	for _, ref := range refsIn(string(b)) {
		name := strings.TrimPrefix(ref, refPrefixV3)
		if _, ok := doc.Components.Schemas[name]; !ok {
			t.Errorf("dangling ref %s", ref)
		}
	}
	if _, ok := doc.Components.Schemas["io.k8s.api.batch.v1.Job"]; ok {
		t.Error("apps/v1 document carries batch/v1 Job")
	}
}

func refsIn(doc string) []string {
	var out []string
	for _, part := range strings.Split(doc, `"$ref":"`)[1:] {
		out = append(out, part[:strings.IndexByte(part, '"')])
	}
	return out
}

// TestV3ApplyLikeKubectl repeats kubectl apply's client-side steps: find the
// PATCH operation of the kind, require strategic merge patch and the
// fieldValidation parameter, then build a three-way patch from the schema.
func TestV3ApplyLikeKubectl(t *testing.T) {
	doc := buildTestV3(t, "apis/apps/v1")
	gvk := appsv1.SchemeGroupVersion.WithKind("Deployment")
	var patchOp *spec3.Operation
	for _, p := range doc.Paths.Paths {
		if p.Patch == nil {
			continue
		}
		var g map[string]string
		if err := p.Patch.Extensions.GetObject(extGVK, &g); err == nil && g["group"] == gvk.Group && g["version"] == gvk.Version && g["kind"] == gvk.Kind {
			patchOp = p.Patch
			break
		}
	}
	if patchOp == nil {
		t.Fatal("no PATCH operation for apps/v1 Deployment")
	}
	if _, ok := patchOp.RequestBody.Content["application/strategic-merge-patch+json"]; !ok {
		t.Error("PATCH does not accept strategic merge patch")
	}
	var fv bool
	for _, p := range patchOp.Parameters {
		fv = fv || (p.Name == "fieldValidation" && p.In == "query")
	}
	if !fv {
		t.Error("PATCH has no fieldValidation query parameter")
	}

	var schema *spec.Schema
	for _, s := range doc.Components.Schemas {
		var gvks []map[string]string
		if s.Extensions.GetObject(extGVK, &gvks) == nil {
			for _, g := range gvks {
				if g["kind"] == "Deployment" && g["group"] == "apps" {
					schema = s
				}
			}
		}
	}
	if schema == nil {
		t.Fatal("no schema with the Deployment gvk")
	}
	original := `{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a:1"},{"name":"b","image":"b:1"}]}}}}`
	modified := `{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a:2"},{"name":"b","image":"b:1"}]}}}}`
	meta := strategicpatch.PatchMetaFromOpenAPIV3{Schema: schema, SchemaList: doc.Components.Schemas}
	patch, err := strategicpatch.CreateThreeWayMergePatch([]byte(original), []byte(modified), []byte(original), meta, false)
	if err != nil {
		t.Fatal(err)
	}
	// With the merge key the patch names the container instead of
	// replacing the whole list.
	if !strings.Contains(string(patch), `"$setElementOrder/containers"`) || !strings.Contains(string(patch), `"name":"a"`) {
		t.Errorf("patch %s does not use the containers merge key", patch)
	}
}

// TestDefinitionsFeedServerSideApply checks the v2 definitions are accepted
// by the type converter server-side apply uses, and that list types reach it.
func TestDefinitionsFeedServerSideApply(t *testing.T) {
	defs, err := Definitions(testKinds())
	if err != nil {
		t.Fatal(err)
	}
	tc, err := managedfields.NewTypeConverter(defs, false)
	if err != nil {
		t.Fatalf("NewTypeConverter: %v", err)
	}
	dep := &appsv1.Deployment{}
	dep.APIVersion, dep.Kind = "apps/v1", "Deployment"
	dep.Name = "web"
	dep.Spec.Template.Spec.Containers = []corev1.Container{{Name: "nginx", Image: "nginx"}}
	if _, err := tc.ObjectToTyped(dep); err != nil {
		t.Fatalf("ObjectToTyped: %v", err)
	}
}

func TestValidateKinds(t *testing.T) {
	good := Kind{GVK: schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, Type: reflect.TypeFor[corev1.Pod]()}
	tests := []struct {
		name string
		kind func(Kind) Kind
	}{
		{"nil type", func(k Kind) Kind { k.Type = nil; return k }},
		{"pointer type", func(k Kind) Kind { k.Type = reflect.TypeFor[*corev1.Pod](); return k }},
		{"no kind", func(k Kind) Kind { k.GVK.Kind = ""; return k }},
		{"list not struct", func(k Kind) Kind { k.ListType = reflect.TypeFor[[]corev1.Pod](); return k }},
		{"unnamed subresource", func(k Kind) Kind { k.Subresources = []Subresource{{}}; return k }},
		{"unsupported field", func(k Kind) Kind { k.Type = reflect.TypeFor[chanHolder](); return k }},
		{"anonymous struct", func(k Kind) Kind { k.Type = reflect.TypeFor[struct{ A string }](); return k }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kinds := []Kind{tt.kind(good)}
			if _, err := BuildV2(kinds); err == nil {
				t.Error("BuildV2: no error")
			}
			if _, err := BuildV3(kinds); err == nil {
				t.Error("BuildV3: no error")
			}
		})
	}
}

type chanHolder struct {
	C chan int `json:"c"`
}

type localType struct {
	Name string `json:"name"`
}

func TestDefinitionName(t *testing.T) {
	tests := []struct {
		t    reflect.Type
		want string
	}{
		{reflect.TypeFor[corev1.Pod](), "io.k8s.api.core.v1.Pod"},
		{reflect.TypeFor[appsv1.DeploymentSpec](), "io.k8s.api.apps.v1.DeploymentSpec"},
		{reflect.TypeFor[localType](), "dev.skiff.skiff.internal.apiserver.openapi.localType"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := definitionName(tt.t); got != tt.want {
				t.Errorf("definitionName = %q, want %q", got, tt.want)
			}
		})
	}
}

type generic[T any] struct {
	V T `json:"v"`
}

func TestGenericTypeIsAnError(t *testing.T) {
	kinds := []Kind{{GVK: schema.GroupVersionKind{Version: "v1", Kind: "G"}, Type: reflect.TypeFor[generic[int]]()}}
	if _, err := BuildV2(kinds); err == nil {
		t.Error("BuildV2 accepted a generic type")
	}
}
