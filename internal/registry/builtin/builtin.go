// Package builtin lists every resource Skiff serves, for the API server and
// for tests that start one.
package builtin

import (
	"skiff.dev/skiff/internal/registry"
	"skiff.dev/skiff/internal/registry/admissionregistration"
	"skiff.dev/skiff/internal/registry/apps"
	"skiff.dev/skiff/internal/registry/autoscaling"
	"skiff.dev/skiff/internal/registry/batch"
	"skiff.dev/skiff/internal/registry/certificates"
	"skiff.dev/skiff/internal/registry/coordination"
	"skiff.dev/skiff/internal/registry/core"
	"skiff.dev/skiff/internal/registry/discovery"
	"skiff.dev/skiff/internal/registry/eventsv1"
	"skiff.dev/skiff/internal/registry/networking"
	"skiff.dev/skiff/internal/registry/policy"
	"skiff.dev/skiff/internal/registry/rbac"
	"skiff.dev/skiff/internal/registry/scheduling"
	"skiff.dev/skiff/internal/registry/storageclass"
)

// Resources lists every REST resource the API server serves. Discovery
// orders groups as upstream does, whatever the order here.
func Resources() []registry.Resource {
	var out []registry.Resource
	for _, group := range [][]registry.Resource{
		core.Resources(),
		apps.Resources(),
		batch.Resources(),
		autoscaling.Resources(),
		networking.Resources(),
		policy.Resources(),
		rbac.Resources(),
		storageclass.Resources(),
		coordination.Resources(),
		discovery.Resources(),
		eventsv1.Resources(),
		scheduling.Resources(),
		certificates.Resources(),
		admissionregistration.WebhookResources(),
		admissionregistration.PolicyResources(),
	} {
		out = append(out, group...)
	}
	return out
}
