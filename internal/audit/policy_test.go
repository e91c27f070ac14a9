package audit

import (
	"strings"
	"testing"
)

func TestRuleMatching(t *testing.T) {
	pods := Attributes{User: "alice", Groups: []string{"dev", "system:authenticated"}, Verb: "get", IsResourceRequest: true,
		Path: "/api/v1/namespaces/ns1/pods/p1", Namespace: "ns1", Resource: "pods", Name: "p1"}
	with := func(f func(*Attributes)) Attributes {
		a := pods
		f(&a)
		return a
	}
	podLog := with(func(a *Attributes) { a.Subresource = "log" })
	deployScale := with(func(a *Attributes) { a.APIGroup, a.Resource, a.Subresource = "apps", "deployments", "scale" })
	nodes := with(func(a *Attributes) { a.Namespace, a.Resource, a.Name = "", "nodes", "n1" })
	healthz := Attributes{User: "alice", Verb: "get", Path: "/healthz/etcd"}
	tests := []struct {
		name string
		rule PolicyRule
		a    Attributes
		want bool
	}{
		{"empty rule matches everything", PolicyRule{}, healthz, true},
		{"user", PolicyRule{Users: []string{"bob", "alice"}}, pods, true},
		{"other user", PolicyRule{Users: []string{"bob"}}, pods, false},
		{"group", PolicyRule{UserGroups: []string{"dev"}}, pods, true},
		{"other group", PolicyRule{UserGroups: []string{"ops"}}, pods, false},
		{"verb", PolicyRule{Verbs: []string{"list", "get"}}, pods, true},
		{"other verb", PolicyRule{Verbs: []string{"create"}}, pods, false},
		{"resource", PolicyRule{Resources: []GroupResources{{Resources: []string{"pods"}}}}, pods, true},
		{"resource in another group", PolicyRule{Resources: []GroupResources{{Group: "apps", Resources: []string{"pods"}}}}, pods, false},
		{"group without resources", PolicyRule{Resources: []GroupResources{{Group: "apps"}}}, deployScale, true},
		{"resource does not match its subresource", PolicyRule{Resources: []GroupResources{{Resources: []string{"pods"}}}}, podLog, false},
		{"resource/subresource", PolicyRule{Resources: []GroupResources{{Resources: []string{"pods/log"}}}}, podLog, true},
		{"resource/subresource does not match the resource", PolicyRule{Resources: []GroupResources{{Resources: []string{"pods/log"}}}}, pods, false},
		{"resource/*", PolicyRule{Resources: []GroupResources{{Resources: []string{"pods/*"}}}}, podLog, true},
		{"resource/* matches the resource itself", PolicyRule{Resources: []GroupResources{{Resources: []string{"pods/*"}}}}, pods, true},
		{"*/subresource", PolicyRule{Resources: []GroupResources{{Group: "apps", Resources: []string{"*/scale"}}}}, deployScale, true},
		{"*/subresource needs a subresource", PolicyRule{Resources: []GroupResources{{Resources: []string{"*/log"}}}}, pods, false},
		{"*/other subresource", PolicyRule{Resources: []GroupResources{{Resources: []string{"*/status"}}}}, podLog, false},
		{"* matches subresources too", PolicyRule{Resources: []GroupResources{{Resources: []string{"*"}}}}, podLog, true},
		{"resourceNames", PolicyRule{Resources: []GroupResources{{Resources: []string{"pods"}, ResourceNames: []string{"p1"}}}}, pods, true},
		{"other resourceNames", PolicyRule{Resources: []GroupResources{{Resources: []string{"pods"}, ResourceNames: []string{"p2"}}}}, pods, false},
		{"namespace", PolicyRule{Namespaces: []string{"ns1"}}, pods, true},
		{"other namespace", PolicyRule{Namespaces: []string{"ns2"}}, pods, false},
		{"cluster scope is namespace \"\"", PolicyRule{Namespaces: []string{""}}, nodes, true},
		{"namespaces only match resource requests", PolicyRule{Namespaces: []string{""}}, healthz, false},
		{"resources only match resource requests", PolicyRule{Resources: []GroupResources{{Resources: []string{"*"}}}}, healthz, false},
		{"nonResourceURL exact", PolicyRule{NonResourceURLs: []string{"/healthz/etcd"}}, healthz, true},
		{"nonResourceURL prefix", PolicyRule{NonResourceURLs: []string{"/healthz*"}}, healthz, true},
		{"nonResourceURL other", PolicyRule{NonResourceURLs: []string{"/version"}}, healthz, false},
		{"nonResourceURL *", PolicyRule{NonResourceURLs: []string{"*"}}, healthz, true},
		{"nonResourceURLs never match resource requests", PolicyRule{NonResourceURLs: []string{"*"}}, pods, false},
		{"all selectors must match", PolicyRule{Users: []string{"alice"}, Verbs: []string{"create"}}, pods, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ruleMatches(&tt.rule, tt.a); got != tt.want {
				t.Errorf("ruleMatches(%+v, %+v) = %v, want %v", tt.rule, tt.a, got, tt.want)
			}
		})
	}
}

func TestEvaluatorFirstMatchOmitStagesAndManagedFields(t *testing.T) {
	no := false
	p := &Policy{
		OmitStages:        []Stage{StageRequestReceived},
		OmitManagedFields: true,
		Rules: []PolicyRule{
			{Level: LevelNone, Users: []string{"system:kube-proxy"}},
			{Level: LevelRequestResponse, Verbs: []string{"create"}, OmitStages: []Stage{StageResponseStarted}, OmitManagedFields: &no},
			{Level: LevelMetadata, Verbs: []string{"create", "get"}},
		},
	}
	e := NewEvaluator(p)
	p.Rules[1].Level = LevelNone // the evaluator keeps its own copy

	d := e.Decide(Attributes{User: "system:kube-proxy", Verb: "create"})
	if d.Level != LevelNone {
		t.Errorf("first rule: level %s, want None", d.Level)
	}
	d = e.Decide(Attributes{User: "alice", Verb: "create"})
	if d.Level != LevelRequestResponse {
		t.Errorf("second rule: level %s, want RequestResponse (first match wins over the third)", d.Level)
	}
	if !d.Omits(StageRequestReceived) || !d.Omits(StageResponseStarted) || d.Omits(StageResponseComplete) || d.Omits(StagePanic) {
		t.Errorf("second rule: omitted stages must be the policy's and the rule's only: %+v", d)
	}
	if d.OmitManagedFields {
		t.Error("the rule's omitManagedFields=false must override the policy's true")
	}
	d = e.Decide(Attributes{User: "alice", Verb: "get"})
	if d.Level != LevelMetadata || !d.OmitManagedFields || d.Omits(StageResponseStarted) || !d.Omits(StageRequestReceived) {
		t.Errorf("third rule: %+v", d)
	}
	d = e.Decide(Attributes{User: "alice", Verb: "delete"})
	if d.Level != LevelNone || !d.Omits(StageRequestReceived) {
		t.Errorf("no rule matches: %+v, want None", d)
	}
}

func TestDefaultPolicy(t *testing.T) {
	e := NewEvaluator(DefaultPolicy())
	user := func(verb, group, resource, sub string) Attributes {
		return Attributes{User: "alice", Groups: []string{"system:authenticated"}, Verb: verb, IsResourceRequest: true,
			APIGroup: group, Namespace: "default", Resource: resource, Subresource: sub, Name: "x"}
	}
	node := func(verb, resource, sub string) Attributes {
		a := user(verb, "", resource, sub)
		a.User, a.Groups = "system:node:n1", []string{"system:nodes", "system:authenticated"}
		return a
	}
	tests := []struct {
		name string
		a    Attributes
		want Level
	}{
		{"secret create", user("create", "", "secrets", ""), LevelMetadata},
		{"secret get", user("get", "", "secrets", ""), LevelMetadata},
		{"secret list", user("list", "", "secrets", ""), LevelMetadata},
		{"configmap update", user("update", "", "configmaps", ""), LevelMetadata},
		{"token request", user("create", "", "serviceaccounts", "token"), LevelMetadata},
		{"token review", user("create", "authentication.k8s.io", "tokenreviews", ""), LevelMetadata},
		{"pod create", user("create", "", "pods", ""), LevelRequest},
		{"deployment patch", user("patch", "apps", "deployments", ""), LevelRequest},
		{"scale update", user("update", "apps", "deployments", "scale"), LevelRequest},
		{"pod delete", user("delete", "", "pods", ""), LevelRequest},
		{"deletecollection", user("deletecollection", "", "pods", ""), LevelRequest},
		{"role binding create", user("create", "rbac.authorization.k8s.io", "rolebindings", ""), LevelRequestResponse},
		{"cluster role delete", user("delete", "rbac.authorization.k8s.io", "clusterroles", ""), LevelRequestResponse},
		{"role get", user("get", "rbac.authorization.k8s.io", "roles", ""), LevelMetadata},
		{"pod get", user("get", "", "pods", ""), LevelMetadata},
		{"pod watch", user("watch", "", "pods", ""), LevelMetadata},
		{"exec", user("create", "", "pods", "exec"), LevelRequest},
		{"log", user("get", "", "pods", "log"), LevelMetadata},
		{"event create", user("create", "", "events", ""), LevelMetadata},
		{"event list", user("list", "events.k8s.io", "events", ""), LevelNone},
		{"lease update", user("update", "coordination.k8s.io", "leases", ""), LevelMetadata},
		{"lease get", user("get", "coordination.k8s.io", "leases", ""), LevelNone},
		{"node reads its node", node("get", "nodes", ""), LevelNone},
		{"node status update by the node", node("patch", "nodes", "status"), LevelMetadata},
		{"pod status update by a node", node("patch", "pods", "status"), LevelMetadata},
		{"node status update by a user", user("patch", "", "nodes", "status"), LevelRequest},
		{"node reads a secret", node("get", "secrets", ""), LevelMetadata},
		{"user reads a node", user("get", "", "nodes", ""), LevelMetadata},
		{"healthz", Attributes{Verb: "get", Path: "/healthz"}, LevelNone},
		{"readyz check", Attributes{Verb: "get", Path: "/readyz/ping"}, LevelNone},
		{"discovery", Attributes{Verb: "get", Path: "/apis/apps/v1"}, LevelNone},
		{"openapi", Attributes{Verb: "get", Path: "/openapi/v3"}, LevelNone},
		{"metrics", Attributes{Verb: "get", Path: "/metrics"}, LevelMetadata},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Decide(tt.a)
			if d.Level != tt.want {
				t.Errorf("level %s, want %s", d.Level, tt.want)
			}
			if !d.Omits(StageRequestReceived) {
				t.Error("the default policy omits RequestReceived")
			}
		})
	}
}

func TestParsePolicy(t *testing.T) {
	valid := `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: RequestResponse
  resources:
  - group: ""
    resources: ["pods/log", "pods/*"]
- level: Metadata
  omitManagedFields: false
`
	p, err := ParsePolicy([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) != 2 || p.Rules[0].Resources[0].Resources[0] != "pods/log" || p.Rules[1].OmitManagedFields == nil {
		t.Errorf("parsed %+v", p)
	}
	tests := []struct{ name, doc, wantErr string }{
		{"wrong apiVersion", "apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules: [{level: None}]", "expected apiVersion audit.k8s.io/v1"},
		{"no rules", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []", "loaded illegal policy with 0 rules"},
		{"unknown field", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, user: [a]}]", "unknown field"},
		{"no level", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{verbs: [get]}]", "rules[0].level: Required value"},
		{"bad level", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: All}]", `rules[0].level: Unsupported value: "All"`},
		{"bad stage", "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [Done]\nrules: [{level: None}]", "omitStages[0]: Invalid value: \"Done\": allowed stages are RequestReceived,ResponseStarted,ResponseComplete,Panic"},
		{"url without slash", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, nonResourceURLs: [healthz]}]", "non-resource URL rules must begin with a '/' character"},
		{"inner wildcard", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, nonResourceURLs: ['/a*/b']}]", "non-resource URL wildcards '*' must be the final character of the rule"},
		{"both kinds", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, nonResourceURLs: ['/a'], namespaces: [x]}]", "rules cannot apply to both regular resources and non-resource URLs"},
		{"resourceNames alone", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, resources: [{resourceNames: [a]}]}]", "using resourceNames requires at least one resource"},
		{"bad group", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, resources: [{group: rbac.authorization.k8s.io/v1}]}]", "rules[0].resources.group"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePolicy([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
