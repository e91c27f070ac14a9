package apiserver

import (
	"crypto/sha256"
	"encoding/base64"
	"mime"
	"net"
	"net/http"
	"runtime"
	"sort"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"

	"skiff.dev/skiff/internal/registry"
)

// KubernetesVersion is the upstream release whose API Skiff serves (the
// k8s.io/api version in go.mod).
const KubernetesVersion = "v1.37.2"

// aggregatedDiscoveryType is the media type of aggregated discovery
// (apidiscovery.k8s.io/v2), which kubectl asks for first.
const aggregatedDiscoveryType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// groupPriority orders groups in discovery as upstream does (kubectl picks
// the first group that serves a resource name, e.g. "events").
var groupPriority = []string{
	"", "apiregistration.k8s.io", "apps", "events.k8s.io", "authentication.k8s.io", "authorization.k8s.io",
	"autoscaling", "batch", "certificates.k8s.io", "networking.k8s.io", "policy", "rbac.authorization.k8s.io",
	"storage.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io", "scheduling.k8s.io",
	"coordination.k8s.io", "node.k8s.io", "discovery.k8s.io", "flowcontrol.apiserver.k8s.io", "resource.k8s.io",
}

type discoveryGroup struct {
	name     string
	versions []string // preferred first
	// resources per version, sorted by name as upstream lists them.
	resources map[string][]*registry.Resource
}

func buildDiscoveryGroups(defs []registry.Resource) []discoveryGroup {
	byName := map[string]*discoveryGroup{}
	var order []string
	for i := range defs {
		d := &defs[i]
		g := byName[d.GroupVersion.Group]
		if g == nil {
			g = &discoveryGroup{name: d.GroupVersion.Group, resources: map[string][]*registry.Resource{}}
			byName[g.name] = g
			order = append(order, g.name)
		}
		v := d.GroupVersion.Version
		if _, ok := g.resources[v]; !ok {
			g.versions = append(g.versions, v)
		}
		g.resources[v] = append(g.resources[v], d)
	}
	rank := func(name string) int {
		for i, n := range groupPriority {
			if n == name {
				return i
			}
		}
		return len(groupPriority)
	}
	sort.SliceStable(order, func(i, j int) bool { return rank(order[i]) < rank(order[j]) })
	out := make([]discoveryGroup, 0, len(order))
	for _, n := range order {
		g := byName[n]
		sort.Slice(g.versions, func(i, j int) bool {
			return version.CompareKubeAwareVersionStrings(g.versions[i], g.versions[j]) > 0
		})
		for _, rs := range g.resources {
			sort.SliceStable(rs, func(i, j int) bool { return rs[i].Resource < rs[j].Resource })
		}
		out = append(out, *g)
	}
	return out
}

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	major, minor := "1", "37"
	if parts := strings.Split(strings.TrimPrefix(KubernetesVersion, "v"), "."); len(parts) >= 2 {
		major, minor = parts[0], parts[1]
	}
	info := version.Info{
		Major: major, Minor: minor, GitVersion: KubernetesVersion + "+skiff",
		GitTreeState: "clean", GoVersion: runtime.Version(), Compiler: runtime.Compiler,
		Platform: runtime.GOOS + "/" + runtime.GOARCH, BuildDate: "1970-01-01T00:00:00Z",
	}
	writeJSON(w, http.StatusOK, info)
}

func wantsAggregated(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if mt == mediaJSON && params["g"] == "apidiscovery.k8s.io" && params["v"] == "v2" && params["as"] == "APIGroupDiscoveryList" {
			return true
		}
		if mt == mediaJSON && params["as"] == "" {
			return false // the client prefers legacy discovery
		}
	}
	return false
}

func serverAddresses(r *http.Request) []metav1.ServerAddressByClientCIDR {
	host := r.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, "443")
	}
	return []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: host}}
}

func (s *Server) serveLegacyVersions(w http.ResponseWriter, r *http.Request) {
	if wantsAggregated(r) {
		s.writeAggregated(w, r, true)
		return
	}
	writeJSON(w, http.StatusOK, &metav1.APIVersions{
		TypeMeta:                   metav1.TypeMeta{Kind: "APIVersions"},
		Versions:                   []string{"v1"},
		ServerAddressByClientCIDRs: serverAddresses(r),
	})
}

func (s *Server) apiGroup(g discoveryGroup) metav1.APIGroup {
	out := metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}, Name: g.name}
	for _, v := range g.versions {
		out.Versions = append(out.Versions, metav1.GroupVersionForDiscovery{GroupVersion: g.name + "/" + v, Version: v})
	}
	out.PreferredVersion = out.Versions[0]
	return out
}

func (s *Server) serveGroups(w http.ResponseWriter, r *http.Request) {
	if wantsAggregated(r) {
		s.writeAggregated(w, r, false)
		return
	}
	list := metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, g := range s.groups {
		if g.name == "" {
			continue
		}
		list.Groups = append(list.Groups, s.apiGroup(g))
	}
	writeJSON(w, http.StatusOK, &list)
}

func (s *Server) serveGroup(w http.ResponseWriter, r *http.Request, name string) {
	for _, g := range s.groups {
		if g.name == name && name != "" {
			ag := s.apiGroup(g)
			writeJSON(w, http.StatusOK, &ag)
			return
		}
	}
	s.writeError(w, r, errNotFoundPath())
}

func defaultVerbs(d *registry.Resource) []string {
	if d.Verbs != nil {
		return d.Verbs
	}
	return []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
}

func storageVersionHash(d *registry.Resource) string {
	if d.StorageVersionHash != "" {
		return d.StorageVersionHash
	}
	sum := sha256.Sum256([]byte(d.GroupVersion.Group + "/" + d.GroupVersion.Version + "/" + d.Kind))
	return base64.StdEncoding.EncodeToString(sum[:8])
}

// subresource is one served subresource of a resource, for discovery.
type subresource struct {
	name  string
	kind  schema.GroupVersionKind
	verbs []string
}

func subresourcesOf(d *registry.Resource) []subresource {
	var out []subresource
	self := d.GroupVersionKind()
	if d.HasStatus {
		out = append(out, subresource{"status", self, []string{"get", "patch", "update"}})
		for _, name := range d.StatusSubresources {
			out = append(out, subresource{name, self, []string{"get", "patch", "update"}})
		}
	}
	if d.Scale != nil {
		out = append(out, subresource{"scale", schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}, []string{"get", "patch", "update"}})
	}
	for _, c := range d.CreateSubresources {
		out = append(out, subresource{c.Name, c.Kind, []string{"create"}})
	}
	if d.GroupVersion.Group == "" && d.Resource == "namespaces" {
		out = append(out, subresource{"finalize", self, []string{"update"}})
	}
	if d.GroupVersion.Group == "" && d.Resource == "pods" {
		out = append(out,
			subresource{"binding", schema.GroupVersionKind{Version: "v1", Kind: "Binding"}, []string{"create"}},
			subresource{"eviction", schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}, []string{"create"}},
		)
	}
	return out
}

func (s *Server) serveResourceList(w http.ResponseWriter, r *http.Request, gv schema.GroupVersion) {
	if _, ok := s.resources[gv]; !ok || (r.URL.Path != "/api/v1" && gv.Group == "") {
		s.writeError(w, r, errNotFoundPath())
		return
	}
	list := metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
	for _, g := range s.groups {
		if g.name != gv.Group {
			continue
		}
		for _, d := range g.resources[gv.Version] {
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: d.Resource, SingularName: d.SingularName, Namespaced: d.Namespaced, Kind: d.Kind,
				Verbs: defaultVerbs(d), ShortNames: d.ShortNames, Categories: d.Categories,
				StorageVersionHash: storageVersionHash(d),
			})
			for _, sub := range subresourcesOf(d) {
				list.APIResources = append(list.APIResources, metav1.APIResource{
					Name: d.Resource + "/" + sub.name, Namespaced: d.Namespaced,
					Group: sub.kind.Group, Version: sub.kind.Version, Kind: sub.kind.Kind, Verbs: sub.verbs,
				})
			}
		}
	}
	writeJSON(w, http.StatusOK, &list)
}

func (s *Server) writeAggregated(w http.ResponseWriter, r *http.Request, legacy bool) {
	list := apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"}}
	for _, g := range s.groups {
		if (g.name == "") != legacy {
			continue
		}
		gd := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: g.name}}
		for _, v := range g.versions {
			vd := apidiscoveryv2.APIVersionDiscovery{Version: v, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
			for _, d := range g.resources[v] {
				scope := apidiscoveryv2.ScopeCluster
				if d.Namespaced {
					scope = apidiscoveryv2.ScopeNamespace
				}
				rd := apidiscoveryv2.APIResourceDiscovery{
					Resource: d.Resource, SingularResource: d.SingularName, Scope: scope,
					ResponseKind: &metav1.GroupVersionKind{Group: d.GroupVersion.Group, Version: d.GroupVersion.Version, Kind: d.Kind},
					Verbs:        defaultVerbs(d), ShortNames: d.ShortNames, Categories: d.Categories,
				}
				for _, sub := range subresourcesOf(d) {
					rd.Subresources = append(rd.Subresources, apidiscoveryv2.APISubresourceDiscovery{
						Subresource:  sub.name,
						ResponseKind: &metav1.GroupVersionKind{Group: sub.kind.Group, Version: sub.kind.Version, Kind: sub.kind.Kind},
						Verbs:        sub.verbs,
					})
				}
				vd.Resources = append(vd.Resources, rd)
			}
			gd.Versions = append(gd.Versions, vd)
		}
		list.Items = append(list.Items, gd)
	}
	body, err := kruntime.Encode(s.codecs.json, &list)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Vary", "Accept")
	writeRaw(w, http.StatusOK, aggregatedDiscoveryType, body)
}
