// Package serviceaccount issues and verifies service-account tokens: JWTs
// signed by a key the server keeps in its data directory, as upstream's
// TokenRequest API (bound tokens, KEP-1205) and legacy Secret-based
// tokens (KEP-2799) produce them.
//
// An Issuer mints tokens for a service account, optionally bound to a pod,
// a secret or a node; an Authenticator verifies a bearer token's
// signature, issuer, audience and times, then checks with an ObjectGetter
// that the service account and the bound object still exist with the
// same UIDs (deleting one revokes its tokens). Discovery serves the OIDC
// documents (/.well-known/openid-configuration and the JWKS) so that
// other parties can verify tokens themselves.
//
// Use: keys := LoadOrCreateKey(dataDir/KeyFile); cfg := Config{Keys: keys,
// Issuer: ..., APIAudiences: ...}; NewIssuer(cfg) for the TokenRequest
// API, the token controller and (later) the kubelet's projected volumes;
// NewAuthenticator(cfg, getter) in the API server's authenticator union.
package serviceaccount
