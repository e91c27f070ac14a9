package celexpr

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

func TestCompile(t *testing.T) {
	cases := []struct {
		expr   string
		params bool
		want   []*cel.Type
		err    string // substring of the CompileError; "" = compiles
	}{
		{expr: "object.spec.replicas <= 5", want: []*cel.Type{cel.BoolType}},
		{expr: "object.spec.replicas <=", want: []*cel.Type{cel.BoolType}, err: "compilation failed: ERROR: <input>:1:24: Syntax error"},
		{expr: "object.spec.replicas", want: []*cel.Type{cel.BoolType}, err: "must evaluate to bool"},
		{expr: "'replicas: ' + string(object.spec.replicas)", want: []*cel.Type{cel.StringType}},
		{expr: "1", want: []*cel.Type{cel.StringType, cel.NullType}, err: "must evaluate to one of [string null_type]"},
		{expr: "params.x == 1", want: []*cel.Type{cel.BoolType}, err: "undeclared reference to 'params'"},
		{expr: "params.x == 1", params: true, want: []*cel.Type{cel.BoolType}},
		{expr: "request.operation == 'CREATE' && request.userInfo.username != ''", want: []*cel.Type{cel.BoolType}},
		{expr: "has(object.metadata.labels) && 'app' in object.metadata.labels", want: []*cel.Type{cel.BoolType}},
		{expr: "quantity('1Gi').isGreaterThan(quantity('512Mi'))", want: []*cel.Type{cel.BoolType}},
		{expr: "quantity('1Gi') > 3", want: []*cel.Type{cel.BoolType}, err: "found no matching overload"},
		{expr: "nope(1)", err: "undeclared reference to 'nope'"},
	}
	for _, tc := range cases {
		t.Run(tc.expr, func(t *testing.T) {
			env, err := NewEnv(Decls{Params: tc.params})
			if err != nil {
				t.Fatal(err)
			}
			_, err = env.Compile(tc.expr, tc.want...)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("compile: %v", err)
				}
				return
			}
			if _, ok := err.(*CompileError); !ok || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error = %v, want one containing %q", err, tc.err)
			}
		})
	}
}

func deployment(replicas int64) map[string]any {
	return map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "namespace": "default", "labels": map[string]any{"app": "web"}},
		"spec":     map[string]any{"replicas": replicas},
	}
}

func TestEval(t *testing.T) {
	in := Input{
		Object:  deployment(6),
		Params:  map[string]any{"data": map[string]any{"maxReplicas": "5", "cidr": "10.0.0.0/8"}},
		Request: map[string]any{"operation": "CREATE", "userInfo": map[string]any{"username": "alice"}},
	}
	cases := []struct {
		expr string
		want any    // bool or string
		err  string // substring of the evaluation error
	}{
		{expr: "object.spec.replicas <= 5", want: false},
		{expr: "object.spec.replicas <= int(params.data.maxReplicas) + 1", want: true},
		{expr: "oldObject == null", want: true},
		{expr: "object.spec.foo == 1", err: "no such key: foo"},
		{expr: "request.userInfo.username", want: "alice"},
		{expr: "'replicas: ' + string(object.spec.replicas)", want: "replicas: 6"},
		{expr: "object.metadata.name.startsWith('w') && object.metadata.name.upperAscii() == 'WEB'", want: true},
		{expr: "sets.contains(['a', 'b'], ['a'])", want: true},
		{expr: "[3, 1, 2].max() == 3 && [3, 1, 2].min() == 1 && [1, 2].sum() == 3 && ![2, 1].isSorted()", want: true},
		{expr: "[1, 2, 1].indexOf(1) == 0 && [1, 2, 1].lastIndexOf(1) == 2", want: true},
		{expr: "'abc 123 def 456'.find('[0-9]+')", want: "123"},
		{expr: "'abc 123 def 456'.findAll('[0-9]+') == ['123', '456'] && 'a1b2'.findAll('[0-9]', 1) == ['1']", want: true},
		{expr: "isURL('https://example.com:8443/a?x=1') && url('https://example.com:8443/a?x=1').getPort() == '8443'", want: true},
		{expr: "url('https://example.com/a?x=1&x=2').getQuery()['x'] == ['1', '2']", want: true},
		{expr: "isURL('example.com')", want: false},
		{expr: "quantity('1Gi').isGreaterThan(quantity('512Mi')) && quantity('2').asInteger() == 2", want: true},
		{expr: "quantity('500m').add(quantity('500m')) == quantity('1') && quantity('1').sub(1).sign() == 0", want: true},
		{expr: "isQuantity('1.5Gi') && !isQuantity('big')", want: true},
		{expr: "quantity('500m').asInteger()", err: "cannot convert value to integer"},
		{expr: "string(quantity('1500m'))", want: "1500m"},
		{expr: "ip('10.1.2.3').family() == 4 && ip('::1').isLoopback() && isIP('fe80::1') && !isIP('::ffff:1.2.3.4')", want: true},
		{expr: "cidr(params.data.cidr).containsIP('10.1.2.3') && !cidr('10.0.0.0/8').containsCIDR('11.0.0.0/16')", want: true},
		{expr: "cidr('10.1.2.3/8').masked() == cidr('10.0.0.0/8') && cidr('10.0.0.0/8').prefixLength() == 8", want: true},
		{expr: "string(cidr('10.1.0.0/16').ip())", want: "10.1.0.0"},
		{expr: "ip.isCanonical('2001:db8::1') && !ip.isCanonical('2001:DB8::1')", want: true},
		{expr: "object.metadata.labels.all(k, v, k == 'app' && v == 'web')", want: true},
		{expr: "cel.bind(r, object.spec.replicas, r * 2) == 12", want: true},
		{expr: "!format.dns1123Label().validate(object.metadata.name).hasValue() && format.named('uuid').hasValue()", want: true},
		{expr: "format.dns1123Label().validate('Web_1').value()[0]", want: "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"},
		{expr: "format.named('labelValue').value().validate('ok') == optional.none() && !format.named('nope').hasValue()", want: true},
	}
	for _, tc := range cases {
		t.Run(tc.expr, func(t *testing.T) {
			env, err := NewEnv(Decls{Params: true})
			if err != nil {
				t.Fatal(err)
			}
			p, err := env.Compile(tc.expr)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			out, err := p.Eval(NewActivation(context.Background(), in, nil))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("eval: %v", err)
			}
			if got := out.Value(); got != tc.want {
				t.Fatalf("got %v (%T), want %v", got, got, tc.want)
			}
		})
	}
}

// TestVariables: a variable is typed for later expressions, may use the
// earlier ones, and is evaluated once per activation however often used.
func TestVariables(t *testing.T) {
	env, err := NewEnv(Decls{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.AddVariable("replicas", "object.spec.replicas"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.AddVariable("double", "variables.replicas * 2"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Compile("variables.missing == 1"); err == nil {
		t.Fatal("undeclared variable compiled")
	}
	if _, err := env.AddVariable("name", "object.metadata.name"); err != nil {
		t.Fatal(err)
	}
	p, err := env.Compile("variables.double == 12 && variables.replicas == 6", cel.BoolType)
	if err != nil {
		t.Fatal(err)
	}
	act := NewActivation(context.Background(), Input{Object: deployment(6)}, env.Variables())
	for range 2 {
		ok, err := p.EvalBool(act)
		if err != nil || !ok {
			t.Fatalf("got %v, %v", ok, err)
		}
	}
	// A variable that fails only fails the expressions that use it.
	env2, _ := NewEnv(Decls{})
	if _, err := env2.AddVariable("bad", "object.spec.nope"); err != nil {
		t.Fatal(err)
	}
	uses, _ := env2.Compile("variables.bad == 1", cel.BoolType)
	ignores, _ := env2.Compile("object.spec.replicas == 6", cel.BoolType)
	act2 := NewActivation(context.Background(), Input{Object: deployment(6)}, env2.Variables())
	if ok, err := ignores.EvalBool(act2); err != nil || !ok {
		t.Fatalf("unrelated expression: %v, %v", ok, err)
	}
	if _, err := uses.EvalBool(act2); err == nil || !strings.Contains(err.Error(), "no such key: nope") {
		t.Fatalf("error = %v", err)
	}
}

// TestCostLimit: an expression too expensive to finish is cancelled.
func TestCostLimit(t *testing.T) {
	env, _ := NewEnv(Decls{})
	p, err := env.Compile("[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, [1,2,3,4,5,6,7,8,9,10].all(f, a+b+c+d+e+f > 0))))))", cel.BoolType)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.EvalBool(NewActivation(context.Background(), Input{}, nil))
	if err == nil || !strings.Contains(err.Error(), "operation cancelled: actual cost limit exceeded") {
		t.Fatalf("error = %v", err)
	}
}

// TestAuthorizer: the authorizer library builds the checks upstream's
// does and reads the decision.
func TestAuthorizer(t *testing.T) {
	var asked []AuthzCheck
	authorize := func(_ context.Context, c AuthzCheck) (bool, string, error) {
		asked = append(asked, c)
		if c.Resource == "secrets" {
			return false, "no secrets", nil
		}
		return true, "", nil
	}
	in := Input{Authorize: authorize, RequestResource: AuthzCheck{Group: "apps", Resource: "deployments", Namespace: "default", Name: "web"}}
	cases := []struct {
		expr string
		want AuthzCheck
		out  any
	}{
		{"authorizer.group('').resource('secrets').namespace('default').name('db').check('get').allowed()",
			AuthzCheck{Verb: "get", Resource: "secrets", Namespace: "default", Name: "db"}, false},
		{"authorizer.group('').resource('secrets').check('list').reason()", AuthzCheck{Verb: "list", Resource: "secrets"}, "no secrets"},
		{"authorizer.path('/healthz').check('get').allowed()", AuthzCheck{Verb: "get", Path: "/healthz"}, true},
		{"authorizer.requestResource.subresource('scale').check('update').allowed()",
			AuthzCheck{Verb: "update", Group: "apps", Resource: "deployments", Subresource: "scale", Namespace: "default", Name: "web"}, true},
		{"authorizer.serviceAccount('kube-system', 'ctrl').group('apps').resource('deployments').check('create').errored()",
			AuthzCheck{ServiceAccountNamespace: "kube-system", ServiceAccountName: "ctrl", Verb: "create", Group: "apps", Resource: "deployments"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.expr, func(t *testing.T) {
			asked = nil
			env, _ := NewEnv(Decls{})
			p, err := env.Compile(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			out, err := p.Eval(NewActivation(context.Background(), in, nil))
			if err != nil {
				t.Fatal(err)
			}
			if out.Value() != tc.out || len(asked) != 1 || asked[0] != tc.want {
				t.Fatalf("got %v, asked %+v; want %v, %+v", out.Value(), asked, tc.out, tc.want)
			}
		})
	}
}

// TestTypedEnv: with the object's Go type, a misspelt field or a wrong
// comparison is found at compile time, as upstream's type checker finds
// it from the OpenAPI schema; what type-checks against dyn still does.
func TestTypedEnv(t *testing.T) {
	env, err := TypedEnv(Decls{Params: true}, reflect.TypeOf(&appsv1.Deployment{}), reflect.TypeOf(&corev1.ConfigMap{}))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		expr, issue string
	}{
		{"object.spec.replicas <= 5", ""},
		{"object.spec.replicas <= int(params.data.max) && object.kind == 'Deployment' && object.metadata.name != ''", ""},
		{"object.spec.template.spec.containers.all(c, c.image.startsWith('registry/'))", ""},
		{"object.metadata.creationTimestamp < timestamp('2030-01-01T00:00:00Z')", ""},
		{"object.spec.strategy.rollingUpdate.maxSurge == '25%'", ""}, // int-or-string is dyn
		{"object.spec.replicass <= 5", "ERROR: <input>:1:12: undefined field 'replicass'"},
		{"object.spec.replicas == 'five'", "found no matching overload for '_==_' applied to '(int, string)'"},
		{"params.data.max > 1", "found no matching overload for '_>_' applied to '(string, int)'"},
	}
	for _, tc := range cases {
		t.Run(tc.expr, func(t *testing.T) {
			got := env.Check(tc.expr)
			if tc.issue == "" && got != "" || !strings.Contains(got, tc.issue) {
				t.Fatalf("issues = %q, want %q", got, tc.issue)
			}
		})
	}
}
