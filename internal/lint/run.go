package lint

import (
	"fmt"
	"io"

	"skiff.dev/skiff/internal/podsecurity"
)

// Exit codes of Run, for CI.
const (
	ExitClean    = 0 // no finding at or above FailOn
	ExitFindings = 1 // findings at or above FailOn
	ExitInput    = 2 // unreadable or invalid input, or bad options
)

// RunConfig is one `skiff lint` invocation.
type RunConfig struct {
	Paths  []string
	Level  string // privileged, baseline, restricted
	Output string // text, json, sarif
	FailOn string // info, warning, error
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// Run lints the paths, writes the findings and returns the exit code.
func Run(c RunConfig) int {
	level, err := podsecurity.ParseLevel(c.Level)
	if err != nil {
		fmt.Fprintf(c.Stderr, "skiff lint: --level %q: %v\n", c.Level, err)
		return ExitInput
	}
	failOn, err := ParseSeverity(c.FailOn)
	if err != nil {
		fmt.Fprintf(c.Stderr, "skiff lint: --fail-on: %v\n", err)
		return ExitInput
	}
	write := map[string]func(io.Writer, []Finding) error{"text": WriteText, "json": WriteJSON, "sarif": WriteSARIF}[c.Output]
	if write == nil {
		fmt.Fprintf(c.Stderr, "skiff lint: -o %q: must be text, json or sarif\n", c.Output)
		return ExitInput
	}
	objs, err := Load(c.Paths, c.Stdin)
	if err != nil {
		fmt.Fprintf(c.Stderr, "skiff lint: %v\n", err)
		return ExitInput
	}
	findings := Check(objs, Options{Level: level})
	if err := write(c.Stdout, findings); err != nil {
		fmt.Fprintf(c.Stderr, "skiff lint: write: %v\n", err)
		return ExitInput
	}
	for _, f := range findings {
		if f.Severity >= failOn {
			return ExitFindings
		}
	}
	return ExitClean
}
