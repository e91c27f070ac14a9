package lint

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
)

// object names a finding's object: Kind/namespace/name or Kind/name.
func (f *Finding) object() string {
	if f.Namespace != "" {
		return f.Kind + "/" + f.Namespace + "/" + f.Name
	}
	return f.Kind + "/" + f.Name
}

// WriteText writes one line per finding:
// `file:line: severity rule Kind/ns/name field: message`.
func WriteText(w io.Writer, findings []Finding) error {
	for _, f := range findings {
		loc := f.File
		if f.Line > 0 {
			loc = fmt.Sprintf("%s:%d", f.File, f.Line)
		}
		if _, err := fmt.Fprintf(w, "%s: %s %s %s %s: %s\n", loc, f.Severity, f.Rule, f.object(), f.Field, f.Message); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON writes {"findings": [...]} (an empty list when clean).
func WriteJSON(w io.Writer, findings []Finding) error {
	if findings == nil {
		findings = []Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Findings []Finding `json:"findings"`
	}{findings})
}

// The SARIF 2.1.0 subset we write.
type (
	sarifLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool    sarifTool     `json:"tool"`
		Results []sarifResult `json:"results"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name           string      `json:"name"`
		InformationURI string      `json:"informationUri"`
		Rules          []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID               string       `json:"id"`
		ShortDescription sarifMessage `json:"shortDescription"`
		Help             sarifMessage `json:"help"`
		Default          sarifDefault `json:"defaultConfiguration"`
	}
	sarifDefault struct {
		Level string `json:"level"`
	}
	sarifMessage struct {
		Text string `json:"text"`
	}
	sarifResult struct {
		RuleID    string          `json:"ruleId"`
		RuleIndex int             `json:"ruleIndex"`
		Level     string          `json:"level"`
		Message   sarifMessage    `json:"message"`
		Locations []sarifLocation `json:"locations"`
	}
	sarifLocation struct {
		Physical sarifPhysical  `json:"physicalLocation"`
		Logical  []sarifLogical `json:"logicalLocations"`
	}
	sarifPhysical struct {
		Artifact sarifArtifact `json:"artifactLocation"`
		Region   *sarifRegion  `json:"region,omitempty"`
	}
	sarifArtifact struct {
		URI string `json:"uri"`
	}
	sarifRegion struct {
		StartLine int `json:"startLine"`
	}
	sarifLogical struct {
		Name               string `json:"name"`
		FullyQualifiedName string `json:"fullyQualifiedName"`
		Kind               string `json:"kind"`
	}
)

func sarifLevel(s Severity) string {
	return [...]string{"note", "warning", "error"}[s]
}

// WriteSARIF writes a SARIF 2.1.0 log (GitHub code scanning and other CI
// annotators read it): every rule in tool.driver.rules, one result per
// finding located by file, line and the object's field path.
func WriteSARIF(w io.Writer, findings []Finding) error {
	ids := make([]string, 0, len(rules))
	for id := range rules {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	driver := sarifDriver{Name: "skiff lint", InformationURI: "https://kubernetes.io/docs/concepts/security/pod-security-standards/"}
	index := map[string]int{}
	for i, id := range ids {
		r := rules[id]
		level := "warning"
		switch {
		case id == "env-secret-literal" || r.level == "baseline":
			level = "error"
		case id == "automount-token":
			level = "note"
		}
		index[id] = i
		driver.Rules = append(driver.Rules, sarifRule{ID: id, ShortDescription: sarifMessage{r.description},
			Help: sarifMessage{r.remediation}, Default: sarifDefault{level}})
	}
	results := []sarifResult{}
	for _, f := range findings {
		loc := sarifLocation{
			Physical: sarifPhysical{Artifact: sarifArtifact{URI: filepath.ToSlash(f.File)}},
			Logical:  []sarifLogical{{Name: f.Field, FullyQualifiedName: f.object() + "." + f.Field, Kind: "member"}},
		}
		if f.File == "-" {
			loc.Physical.Artifact.URI = "stdin"
		}
		if f.Line > 0 {
			loc.Physical.Region = &sarifRegion{StartLine: f.Line}
		}
		results = append(results, sarifResult{
			RuleID: f.Rule, RuleIndex: index[f.Rule], Level: sarifLevel(f.Severity),
			Message:   sarifMessage{strings.TrimSpace(f.object() + " " + f.Field + ": " + f.Message + ". " + f.Remediation)},
			Locations: []sarifLocation{loc},
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs:    []sarifRun{{Tool: sarifTool{Driver: driver}, Results: results}},
	})
}
