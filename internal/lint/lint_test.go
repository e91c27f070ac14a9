package lint

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestCheck(t *testing.T) {
	tests := []struct {
		paths []string
		level string
		want  []string // rule@field, in order
	}{
		{paths: []string{"testdata/clean.yaml"}, level: "restricted"},
		{paths: []string{"testdata/tree"}, level: "baseline", want: []string{
			"pod-security/hostNamespaces@spec.hostPID",
			"automount-token@spec.automountServiceAccountToken",
			"resources-limits@spec.template.spec.containers[0].resources.limits",
			"resources-requests@spec.template.spec.containers[0].resources.requests",
			"env-secret-literal@spec.template.spec.containers[0].env[0].value",
			"automount-token@spec.template.spec.automountServiceAccountToken",
		}},
		{paths: []string{"testdata/unsafe.yaml"}, level: "privileged", want: []string{
			"resources-limits@spec.template.spec.containers[0].resources.limits",
			"resources-requests@spec.template.spec.containers[0].resources.requests",
			"image-tag@spec.template.spec.containers[0].image",
			"env-secret-literal@spec.template.spec.containers[0].env[0].value",
			"automount-token@spec.template.spec.automountServiceAccountToken",
			"image-tag@spec.jobTemplate.spec.template.spec.containers[0].image",
		}},
		{paths: []string{"testdata/unsafe.yaml"}, level: "restricted", want: []string{
			"pod-security/capabilities_baseline@spec.template.spec.containers[0].securityContext.capabilities.add[0]",
			"pod-security/hostNamespaces@spec.template.spec.hostNetwork",
			"pod-security/hostPathVolumes@spec.template.spec.volumes[0].hostPath",
			"pod-security/privileged@spec.template.spec.containers[0].securityContext.privileged",
			"pod-security/allowPrivilegeEscalation@spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation",
			"pod-security/capabilities_restricted@spec.template.spec.containers[0].securityContext.capabilities.drop",
			"pod-security/runAsNonRoot@spec.template.spec.containers[0].securityContext.runAsNonRoot",
			"pod-security/runAsUser@spec.template.spec.containers[0].securityContext.runAsUser",
			"pod-security/seccompProfile_restricted@spec.template.spec.containers[0].securityContext.seccompProfile.type",
			"resources-limits@spec.template.spec.containers[0].resources.limits",
			"resources-requests@spec.template.spec.containers[0].resources.requests",
			"image-tag@spec.template.spec.containers[0].image",
			"env-secret-literal@spec.template.spec.containers[0].env[0].value",
			"automount-token@spec.template.spec.automountServiceAccountToken",
			"image-tag@spec.jobTemplate.spec.template.spec.containers[0].image",
		}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.paths, ",")+"@"+tc.level, func(t *testing.T) {
			objs, err := Load(tc.paths, nil)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			code := Run(RunConfig{Paths: tc.paths, Level: tc.level, Output: "json", FailOn: "error", Stdout: &buf, Stderr: &buf})
			var out struct{ Findings []Finding }
			if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
				t.Fatalf("%v: %s", err, buf.String())
			}
			var got []string
			for _, f := range out.Findings {
				got = append(got, f.Rule+"@"+f.Field)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if len(objs) == 0 {
				t.Error("no objects loaded")
			}
			if wantCode := map[bool]int{true: ExitClean, false: ExitFindings}[len(tc.want) == 0]; code != wantCode && tc.level != "privileged" {
				t.Errorf("exit code %d, want %d", code, wantCode)
			}
		})
	}
}

func TestLines(t *testing.T) {
	objs, err := Load([]string{"testdata/unsafe.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dep := objs[0]
	for path, want := range map[string]int{
		"spec.template.spec.containers[0].securityContext.privileged": 19,
		"spec.template.spec.containers[0].env[0].value":               25,
		"spec.template.spec.volumes[0].hostPath":                      33,
		// absent: the deepest parent that exists
		"spec.template.spec.containers[0].securityContext.runAsNonRoot":          19,
		"metadata.annotations[container.apparmor.security.beta.kubernetes.io/x]": 5,
	} {
		if got := dep.Line(path); got != want {
			t.Errorf("Line(%s) = %d, want %d", path, got, want)
		}
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name   string
		cfg    RunConfig
		stdin  string
		want   int
		stderr string
	}{
		{name: "clean", cfg: RunConfig{Paths: []string{"testdata/clean.yaml"}}, want: ExitClean},
		{name: "errors", cfg: RunConfig{Paths: []string{"testdata/unsafe.yaml"}}, want: ExitFindings},
		{name: "warnings pass by default", cfg: RunConfig{Paths: []string{"testdata/-"}, Level: "restricted"},
			stdin: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: nginx:1.27}]\n", want: ExitClean},
		{name: "warnings fail with --fail-on warning", cfg: RunConfig{Paths: []string{"-"}, FailOn: "warning"},
			stdin: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: nginx:1.27}]\n", want: ExitFindings},
		{name: "invalid yaml", cfg: RunConfig{Paths: []string{"testdata/invalid.yaml"}}, want: ExitInput, stderr: "invalid input: testdata/invalid.yaml"},
		{name: "no apiVersion", cfg: RunConfig{Paths: []string{"testdata/noapiversion.yaml"}}, want: ExitInput, stderr: "needs apiVersion and kind"},
		{name: "wrong field type", cfg: RunConfig{Paths: []string{"-"}}, stdin: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: 3}\n",
			want: ExitInput, stderr: `Pod "p"`},
		{name: "missing file", cfg: RunConfig{Paths: []string{"testdata/nope.yaml"}}, want: ExitInput, stderr: "no such file"},
		{name: "bad level", cfg: RunConfig{Paths: []string{"testdata/clean.yaml"}, Level: "strict"}, want: ExitInput, stderr: "--level"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			if c.Paths[0] == "testdata/-" {
				c.Paths = []string{"-"}
			}
			if c.Level == "" {
				c.Level = "restricted"
			}
			if c.FailOn == "" {
				c.FailOn = "error"
			}
			c.Output = "text"
			var stdout, stderr bytes.Buffer
			c.Stdin, c.Stdout, c.Stderr = strings.NewReader(tc.stdin), &stdout, &stderr
			if got := Run(c); got != tc.want {
				t.Errorf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", got, tc.want, stdout.String(), stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tc.stderr)
			}
		})
	}
}

// TestGolden pins the three renderings of testdata/unsafe.yaml and the
// tree (go test ./internal/lint -update rewrites them).
func TestGolden(t *testing.T) {
	for _, format := range []string{"text", "json", "sarif"} {
		t.Run(format, func(t *testing.T) {
			var out, errOut bytes.Buffer
			Run(RunConfig{Paths: []string{"testdata/unsafe.yaml", "testdata/tree"}, Level: "restricted", Output: format, FailOn: "error", Stdout: &out, Stderr: &errOut})
			if errOut.Len() > 0 {
				t.Fatal(errOut.String())
			}
			golden := filepath.Join("testdata", "golden", "unsafe."+format)
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("%s output differs from %s (run with -update after checking):\n%s", format, golden, out.String())
			}
			if format != "text" && !json.Valid(out.Bytes()) {
				t.Error("not JSON")
			}
		})
	}
}

func TestSARIFShape(t *testing.T) {
	var out bytes.Buffer
	Run(RunConfig{Paths: []string{"testdata/unsafe.yaml"}, Level: "restricted", Output: "sarif", FailOn: "error", Stdout: &out, Stderr: &out})
	var log struct {
		Version string
		Runs    []struct {
			Tool struct {
				Driver struct {
					Rules []struct{ ID string }
				}
			}
			Results []struct {
				RuleID    string
				RuleIndex int
				Level     string
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
						Region           struct{ StartLine int }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(out.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || len(log.Runs[0].Results) == 0 {
		t.Fatalf("log: %+v", log)
	}
	run := log.Runs[0]
	for _, r := range run.Results {
		if run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("result %s: ruleIndex %d is %s", r.RuleID, r.RuleIndex, run.Tool.Driver.Rules[r.RuleIndex].ID)
		}
		loc := r.Locations[0].PhysicalLocation
		if loc.ArtifactLocation.URI != "testdata/unsafe.yaml" || loc.Region.StartLine == 0 {
			t.Errorf("result %s location %+v", r.RuleID, loc)
		}
	}
}
