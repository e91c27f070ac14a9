// Package framework is the pure core of Skiff's scheduler: the types a
// scheduling cycle works on (PodInfo, NodeInfo, Snapshot), the tiny plug-in
// interfaces (Filter, Score and their optional companions), and the
// algorithm that runs them over a snapshot of the cluster to pick a node.
// It does no I/O: the driver in package scheduler feeds it snapshots and
// acts on its decisions.
//
// A cycle for one pod:
//
//  1. PreFilter plug-ins compute per-pod state once (CycleState).
//  2. Filter plug-ins run in parallel over a rotating sample of nodes until
//     enough feasible nodes are found (upstream's percentageOfNodesToScore).
//  3. PreScore, Score and NormalizeScore rank the feasible nodes; scores
//     are weighted and summed; ties are broken at random.
//  4. When no node fits, the result is a *FitError whose message counts
//     nodes per reason exactly as upstream kube-scheduler does.
package framework

import (
	"fmt"
	"sort"
	"strings"
)

// Code is the outcome of running a plug-in.
type Code int

const (
	// Success means the node fits (Filter) or the step went well.
	Success Code = iota
	// Error is an internal error: the pod is retried with back-off.
	Error
	// Unschedulable means the node does not fit now but preempting pods
	// on it might make it fit.
	Unschedulable
	// UnschedulableAndUnresolvable means the node does not fit and
	// preemption would not help.
	UnschedulableAndUnresolvable
	// Skip, from PreFilter or PreScore, means the plug-in has nothing to
	// do for this pod: its Filter or Score is not called.
	Skip
)

var codeNames = [...]string{"Success", "Error", "Unschedulable", "UnschedulableAndUnresolvable", "Skip"}

func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", int(c))
}

// Status is a plug-in's verdict. A nil *Status is Success.
type Status struct {
	code    Code
	reasons []string
	plugin  string
	err     error
}

// NewStatus returns a status with the given code and reasons.
func NewStatus(code Code, reasons ...string) *Status {
	return &Status{code: code, reasons: reasons}
}

// AsStatus wraps an internal error.
func AsStatus(err error) *Status {
	if err == nil {
		return nil
	}
	return &Status{code: Error, reasons: []string{err.Error()}, err: err}
}

// Code returns the status code; Success for nil.
func (s *Status) Code() Code {
	if s == nil {
		return Success
	}
	return s.code
}

// IsSuccess reports whether s is nil or Success.
func (s *Status) IsSuccess() bool { return s.Code() == Success }

// IsSkip reports whether s says Skip.
func (s *Status) IsSkip() bool { return s.Code() == Skip }

// IsRejected reports whether the node or pod was rejected.
func (s *Status) IsRejected() bool {
	c := s.Code()
	return c == Unschedulable || c == UnschedulableAndUnresolvable
}

// Reasons are the named reasons, counted per node in FitError messages.
func (s *Status) Reasons() []string {
	if s == nil {
		return nil
	}
	return s.reasons
}

// Message joins the reasons.
func (s *Status) Message() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.reasons, ", ")
}

// Plugin is the plug-in that produced the status ("" if none).
func (s *Status) Plugin() string {
	if s == nil {
		return ""
	}
	return s.plugin
}

// WithPlugin records which plug-in returned s and returns s.
func (s *Status) WithPlugin(name string) *Status {
	if s != nil {
		s.plugin = name
	}
	return s
}

// AsError returns the wrapped error of an Error status, or an error
// holding the message.
func (s *Status) AsError() error {
	if s.IsSuccess() {
		return nil
	}
	if s.err != nil {
		return s.err
	}
	return fmt.Errorf("%s", s.Message())
}

// MaxNodeScore is the highest score a Score plug-in gives after
// normalisation, as upstream.
const MaxNodeScore int64 = 100

// NodeScore is one node's score from one plug-in.
type NodeScore struct {
	Name  string
	Score int64
}

// Diagnosis says why a pod fit nowhere.
type Diagnosis struct {
	// NodeToStatus holds the rejecting status of each node that was
	// evaluated.
	NodeToStatus map[string]*Status
	// AbsentStatus, if set, applies to every node missing from
	// NodeToStatus (upstream's AbsentNodesStatus).
	AbsentStatus *Status
	// UnschedulablePlugins are the plug-ins that rejected the pod on some
	// node; the queue uses them to decide which cluster events may help.
	UnschedulablePlugins map[string]bool
	// PreFilterMsg is set when a PreFilter plug-in rejected the pod for
	// every node.
	PreFilterMsg string
	// PostFilterMsg is preemption's conclusion, appended to the message.
	PostFilterMsg string
}

// FitError is returned when no node fits a pod.
type FitError struct {
	NumAllNodes int
	Diagnosis   Diagnosis
}

// noNodeAvailableMsg is upstream's NoNodeAvailableMsg.
const noNodeAvailableMsg = "0/%v nodes are available"

// Error formats the message upstream kube-scheduler 1.37 puts in the
// PodScheduled condition and the FailedScheduling event:
// "0/X nodes are available: <PreFilterMsg>. <count reason, ...>. <PostFilterMsg>".
// The "count reason" entries are sorted as strings, count included.
func (f *FitError) Error() string {
	msg := fmt.Sprintf(noNodeAvailableMsg+":", f.NumAllNodes)
	if f.Diagnosis.PreFilterMsg != "" {
		msg += fmt.Sprintf(" %v.", f.Diagnosis.PreFilterMsg)
	} else {
		reasons := map[string]int{}
		for _, st := range f.Diagnosis.NodeToStatus {
			for _, r := range st.Reasons() {
				reasons[r]++
			}
		}
		if absent := f.NumAllNodes - len(f.Diagnosis.NodeToStatus); absent > 0 && f.Diagnosis.AbsentStatus != nil {
			for _, r := range f.Diagnosis.AbsentStatus.Reasons() {
				reasons[r] += absent
			}
		}
		counted := make([]string, 0, len(reasons))
		for r, n := range reasons {
			counted = append(counted, fmt.Sprintf("%v %v", n, r))
		}
		sort.Strings(counted)
		if len(counted) > 0 {
			msg += fmt.Sprintf(" %v.", strings.Join(counted, ", "))
		}
	}
	if f.Diagnosis.PostFilterMsg != "" {
		msg += " " + f.Diagnosis.PostFilterMsg
	}
	return msg
}
