// Package denyserviceexternalips is upstream's DenyServiceExternalIPs
// admission plug-in: no new use of Service spec.externalIPs (the
// CVE-2020-8554 mitigation). Services may keep or drop the addresses they
// already have.
package denyserviceexternalips

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"

	"skiff.dev/skiff/internal/admission"
)

// Name is the plug-in's upstream name.
const Name = "DenyServiceExternalIPs"

var errDenied = errors.New("use of external IPs is denied by admission control")

// Plugin is the DenyServiceExternalIPs plug-in.
type Plugin struct{}

var _ admission.Validator = Plugin{}

// Name implements admission.Plugin.
func (Plugin) Name() string { return Name }

// Validate refuses a Service create with externalIPs, and an update that
// adds an address the old Service did not have.
func (Plugin) Validate(_ context.Context, a *admission.Attributes) error {
	if a.Subresource != "" || (a.Operation != admission.Create && a.Operation != admission.Update) {
		return nil
	}
	svc, ok := a.Object.(*corev1.Service)
	if !ok || len(svc.Spec.ExternalIPs) == 0 {
		return nil
	}
	if old, ok := a.OldObject.(*corev1.Service); ok && subset(svc.Spec.ExternalIPs, old.Spec.ExternalIPs) {
		return nil
	}
	return admission.Forbidden(a, errDenied)
}

func subset(ips, of []string) bool {
	had := make(map[string]bool, len(of))
	for _, ip := range of {
		had[ip] = true
	}
	for _, ip := range ips {
		if !had[ip] {
			return false
		}
	}
	return true
}
