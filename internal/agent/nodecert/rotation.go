// Package nodecert gives a node agent its own client certificate, as
// upstream's kubelet does with TLS bootstrapping and certificate
// rotation:
//
//  1. Discover: fetch the cluster CA from the server and accept it only
//     if its SHA-256 matches the join token's pin; no credential is sent
//     before the server is verified.
//  2. Bootstrap: with the bootstrap token, create a
//     kubernetes.io/kube-apiserver-client-kubelet CSR for
//     system:node:<name> (group system:nodes), wait until it is approved
//     and signed, and write the key, certificate and a kubeconfig (0600).
//  3. Rotate: when 70–90% (jittered) of the certificate's lifetime has
//     passed, ask again with the current certificate (a renewal the
//     approver grants to the node itself), and replace the files; the
//     clients, which read the files, pick the new one up.
//
// Later starts reuse the files; the token is only needed again if the
// certificate has expired.
package nodecert

import (
	"time"
)

// RotationDeadline is when a certificate valid from notBefore to notAfter
// should be renewed: at 70% of its lifetime plus jitter·20% (jitter in
// [0,1)), upstream kubelet's rule, so a fleet's nodes do not all renew at
// once.
func RotationDeadline(notBefore, notAfter time.Time, jitter float64) time.Time {
	life := notAfter.Sub(notBefore)
	return notBefore.Add(time.Duration(float64(life) * (0.7 + 0.2*jitter)))
}
