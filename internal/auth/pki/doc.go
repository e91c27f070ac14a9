// Package pki creates and reuses the cluster's certificate authority, the API
// server's serving certificate, client certificates for users and components,
// and kubeconfig files that embed them.
//
// Everything lives in the server's data directory and is generated on first
// start; later starts reuse it. The CA is never regenerated once its
// certificate exists, because every issued certificate and every kubeconfig
// handed out depends on it. Leaf certificates are reissued only when they no
// longer fit (SANs, identity, signer) or are close to expiry.
//
// Keys are ECDSA P-256: generating one takes microseconds, where RSA-2048
// takes tens of milliseconds, and start-up time matters.
//
// Files are written atomically (temporary file, fsync, rename), private keys
// with mode 0600, certificates with 0600 too (CIS asks for it; kubeconfigs
// embed the CA, so nobody but skiff reads the files), directories with
// 0700, so a crash never leaves a half-written certificate in place of a
// good one. Files reused at start get these modes back if looser.
package pki
