package audit

import (
	_ "embed"
	"fmt"
)

// defaultPolicyYAML is DefaultPolicy, as a file users can start theirs from.
//
//go:embed default-policy.yaml
var defaultPolicyYAML []byte

// DefaultPolicyYAML returns the default policy's file.
func DefaultPolicyYAML() []byte { return append([]byte(nil), defaultPolicyYAML...) }

// DefaultPolicy is the policy used without --audit-policy-file: every write
// recorded (Request level; RequestResponse for RBAC objects; Metadata for
// background writes of events, leases and node status), secrets, config
// maps and tokens only at Metadata whatever the verb, reads at Metadata,
// and probes, discovery and reads of events, leases and a node's own Node
// not at all. RequestReceived is omitted.
func DefaultPolicy() *Policy {
	p, err := ParsePolicy(defaultPolicyYAML)
	if err != nil {
		panic(fmt.Sprintf("audit: the built-in default policy is invalid: %v", err)) // a broken invariant: tests load it
	}
	return p
}
