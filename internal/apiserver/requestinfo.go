package apiserver

import (
	"net/http"
	"strings"
)

// requestInfo is what the URL of a resource request names. Parsing is
// pure so that authorization (RBAC, later) can use the same answer.
type requestInfo struct {
	// IsResourceRequest is false for discovery, health and other paths.
	IsResourceRequest bool
	Path              string
	Verb              string // get, list, watch, create, update, patch, delete, deletecollection
	APIPrefix         string // "api" or "apis"
	APIGroup          string
	APIVersion        string
	Namespace         string
	Resource          string
	Subresource       string
	Name              string
	// Parts after the subresource (e.g. proxy paths); unused for now.
	Parts []string
}

// parseRequestInfo maps a request onto upstream's resource request shape:
//
//	/api/v1/namespaces/{ns}/{resource}/{name}/{subresource}
//	/apis/{group}/{version}/namespaces/{ns}/{resource}/{name}/{subresource}
//	/api/v1/{resource}/{name}            (cluster-scoped or all namespaces)
//	/api/v1/watch/...                    (legacy watch prefix)
func parseRequestInfo(r *http.Request) requestInfo {
	info := requestInfo{Path: r.URL.Path}
	parts := splitPath(r.URL.Path)
	if len(parts) < 2 {
		return info
	}
	switch parts[0] {
	case "api":
		info.APIPrefix = "api"
		info.APIVersion = parts[1]
		parts = parts[2:]
	case "apis":
		if len(parts) < 3 {
			return info
		}
		info.APIPrefix = "apis"
		info.APIGroup = parts[1]
		info.APIVersion = parts[2]
		parts = parts[3:]
	default:
		return info
	}
	if len(parts) == 0 {
		return info // group/version discovery
	}
	info.IsResourceRequest = true

	legacyWatch := false
	if parts[0] == "watch" {
		legacyWatch = true
		parts = parts[1:]
	}
	// /namespaces/{ns}/{resource}... but /namespaces/{name} and its
	// subresources (status, finalize) address the namespace itself; as
	// upstream, Namespace is then the namespace's own name.
	if parts[0] == "namespaces" && len(parts) > 1 {
		info.Namespace = parts[1]
		if len(parts) > 2 && parts[2] != "status" && parts[2] != "finalize" {
			parts = parts[2:]
		}
	}
	switch len(parts) {
	case 0:
		info.IsResourceRequest = false
		return info
	case 1:
		info.Resource = parts[0]
	case 2:
		info.Resource, info.Name = parts[0], parts[1]
	default:
		info.Resource, info.Name, info.Subresource = parts[0], parts[1], parts[2]
		info.Parts = parts[3:]
	}
	info.Verb = verbFor(r, info, legacyWatch)
	return info
}

func verbFor(r *http.Request, info requestInfo, legacyWatch bool) string {
	q := r.URL.Query()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if legacyWatch || isTrue(q.Get("watch")) {
			return "watch"
		}
		if info.Name == "" {
			return "list"
		}
		return "get"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		if info.Name == "" {
			return "deletecollection"
		}
		return "delete"
	}
	return strings.ToLower(r.Method)
}

func isTrue(s string) bool {
	return s == "true" || s == "1"
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
