// Package core holds the registry strategies of the core/v1 API group
// (pods, services, namespaces, nodes, configmaps, secrets, ...). Each
// strategy mirrors upstream Kubernetes: the defaults of
// pkg/apis/core/v1/defaults.go, the validation of
// pkg/apis/core/validation (same field paths, error types and messages),
// the selectable fields of pkg/registry/core/<resource> and the
// `kubectl get` columns of the upstream printers.
//
// Pod spec defaults and validation are exported (DefaultPodSpec,
// ValidatePodSpec, ...) so that workload groups (apps, batch) default and
// validate their pod templates exactly as pods are.
package core
