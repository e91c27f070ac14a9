// Package cisaudit checks a Skiff installation against the CIS Kubernetes
// Benchmark v1.10, as `skiff audit` runs it.
//
// Each benchmark item is a Check: its id and text as the benchmark has
// them, and a function of an Env. The Env is gathered once (Gather): the
// server's effective configuration (DATA_DIR/server-config.json, written
// by skiff server at start), the modes and owners of the files in the data
// directory, live state read through the API with the admin kubeconfig,
// and probes of the live endpoints (an anonymous request, old TLS versions
// and weak cipher suites, /debug/pprof, the agents' port 10250 and 10255).
// The checks themselves are pure functions of the Env, so they are tested
// with tables.
//
// Items are mapped honestly: upstream flags become Skiff's effective
// settings; files are Skiff's real files; an item about something Skiff
// does not have (static pod manifests, an etcd server with the embedded
// store) passes as "not applicable: <why>". As kube-bench, items the
// benchmark does not score (the "Manual" ones and a few others) never
// fail: a failure is reported as WARN.
package cisaudit

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// BenchmarkVersion is the CIS Kubernetes Benchmark version the checks
// follow.
const BenchmarkVersion = "cis-1.10"

// Status is a check's outcome.
type Status string

// Outcomes, as kube-bench prints them.
const (
	Pass Status = "PASS"
	Fail Status = "FAIL"
	Warn Status = "WARN"
)

// Result is what a check found: the outcome and the evidence for it.
type Result struct {
	Status   Status
	Evidence string
	// NotApplicable marks a pass because the item does not apply to Skiff.
	NotApplicable bool
}

func pass(format string, a ...any) Result {
	return Result{Status: Pass, Evidence: fmt.Sprintf(format, a...)}
}

func fail(format string, a ...any) Result {
	return Result{Status: Fail, Evidence: fmt.Sprintf(format, a...)}
}

func warn(format string, a ...any) Result {
	return Result{Status: Warn, Evidence: fmt.Sprintf(format, a...)}
}

func notApplicable(format string, a ...any) Result {
	return Result{Status: Pass, Evidence: "not applicable: " + fmt.Sprintf(format, a...), NotApplicable: true}
}

// Check is one benchmark item.
type Check struct {
	// ID and Text are the benchmark's; Text ends with its "(Automated)"
	// or "(Manual)" label.
	ID, Text string
	// Scored items fail the run; the others report a failure as WARN
	// (kube-bench's "scored: false").
	Scored bool
	// Remediation says what to do on Skiff.
	Remediation string
	Run         func(*Env) Result
}

// Section is the top-level group of an id ("1.2.3" → "1").
func (c Check) Section() string {
	s, _, _ := strings.Cut(c.ID, ".")
	return s
}

// Group is the id's group ("1.2.3" → "1.2"; "2.1" → "2").
func (c Check) Group() string {
	if i := strings.LastIndexByte(c.ID, '.'); i > 0 && strings.Count(c.ID, ".") > 1 {
		return c.ID[:i]
	}
	return c.Section()
}

// Checks returns every check, in the benchmark's order.
func Checks() []Check {
	var all []Check
	for _, g := range [][]Check{controlPlaneFileChecks(), apiServerChecks(), controllerManagerChecks(), schedulerChecks(), etcdChecks(), controlPlaneConfigChecks(), workerNodeChecks(), policyChecks()} {
		all = append(all, g...)
	}
	return all
}

// Finding is a check's result in a report.
type Finding struct {
	ID            string `json:"id"`
	Section       string `json:"section"`
	Group         string `json:"group"`
	Text          string `json:"text"`
	Type          string `json:"type"`
	Scored        bool   `json:"scored"`
	Status        Status `json:"status"`
	NotApplicable bool   `json:"notApplicable,omitempty"`
	Evidence      string `json:"evidence,omitempty"`
	Remediation   string `json:"remediation,omitempty"`
}

// Totals counts findings per outcome.
type Totals struct {
	Pass int `json:"pass"`
	Fail int `json:"fail"`
	Warn int `json:"warn"`
}

// Report is the outcome of a run.
type Report struct {
	Benchmark string    `json:"benchmark"`
	DataDir   string    `json:"dataDir"`
	Findings  []Finding `json:"findings"`
	Totals    Totals    `json:"totals"`
}

// Failed reports whether a scored check failed: the run's exit code is 1
// then.
func (r Report) Failed() bool { return r.Totals.Fail > 0 }

// Run runs checks against env; sections, if not empty, keeps only checks
// whose id is in or under one of them ("1", "1.2", "5.1.3").
func Run(env *Env, checks []Check, sections []string) Report {
	rep := Report{Benchmark: BenchmarkVersion, DataDir: env.DataDir, Findings: []Finding{}}
	for _, c := range checks {
		if !selected(c.ID, sections) {
			continue
		}
		res := c.Run(env)
		if res.Status == Fail && !c.Scored {
			res.Status = Warn
		}
		f := Finding{
			ID: c.ID, Section: c.Section(), Group: c.Group(), Text: c.Text, Type: checkType(c.Text), Scored: c.Scored,
			Status: res.Status, NotApplicable: res.NotApplicable, Evidence: res.Evidence,
		}
		if res.Status != Pass {
			f.Remediation = c.Remediation
		}
		switch res.Status {
		case Pass:
			rep.Totals.Pass++
		case Fail:
			rep.Totals.Fail++
		default:
			rep.Totals.Warn++
		}
		rep.Findings = append(rep.Findings, f)
	}
	return rep
}

func selected(id string, sections []string) bool {
	if len(sections) == 0 {
		return true
	}
	for _, s := range sections {
		if id == s || strings.HasPrefix(id, s+".") {
			return true
		}
	}
	return false
}

func checkType(text string) string {
	if strings.HasSuffix(text, "(Manual)") {
		return "manual"
	}
	return "automated"
}

// sectionTitles are the benchmark's names of its sections and groups.
var sectionTitles = map[string]string{
	"1": "Control Plane Security Configuration", "1.1": "Control Plane Node Configuration Files", "1.2": "API Server",
	"1.3": "Controller Manager", "1.4": "Scheduler",
	"2": "Etcd Node Configuration",
	"3": "Control Plane Configuration", "3.1": "Authentication and Authorization", "3.2": "Logging",
	"4": "Worker Node Security Configuration", "4.1": "Worker Node Configuration Files", "4.2": "Kubelet", "4.3": "kube-proxy",
	"5": "Kubernetes Policies", "5.1": "RBAC and Service Accounts", "5.2": "Pod Security Standards", "5.3": "Network Policies and CNI",
	"5.4": "Secrets Management", "5.5": "Extensible Admission Control", "5.7": "General Policies",
}

// WriteText prints the report as kube-bench does: a line per check,
// evidence under each, remediation under FAILs and WARNs, and a summary.
func WriteText(w io.Writer, rep Report) error {
	var b strings.Builder
	section, group := "", ""
	for _, f := range rep.Findings {
		if f.Section != section {
			section, group = f.Section, ""
			fmt.Fprintf(&b, "[INFO] %s %s\n", f.Section, sectionTitles[f.Section])
		}
		if f.Group != group && f.Group != f.Section {
			group = f.Group
			fmt.Fprintf(&b, "[INFO] %s %s\n", f.Group, sectionTitles[f.Group])
		}
		fmt.Fprintf(&b, "[%s] %s %s\n", f.Status, f.ID, f.Text)
		if f.Evidence != "" {
			writeIndented(&b, f.Evidence, "      ")
		}
		if f.Remediation != "" {
			writeIndented(&b, "Remediation: "+f.Remediation, "      ")
		}
	}
	fmt.Fprintf(&b, "\n== Summary total ==\n%d checks PASS\n%d checks FAIL\n%d checks WARN\n", rep.Totals.Pass, rep.Totals.Fail, rep.Totals.Warn)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeIndented(b *strings.Builder, text, indent string) {
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		b.WriteString(indent + line + "\n")
	}
}

// WriteJSON prints the report as one JSON document.
func WriteJSON(w io.Writer, rep Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
