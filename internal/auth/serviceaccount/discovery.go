package serviceaccount

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
)

// Paths of the OIDC discovery documents, as upstream.
const (
	OpenIDConfigPath = "/.well-known/openid-configuration"
	JWKSPath         = "/openid/v1/jwks"
)

// discoveryMaxAge is how long clients may cache the documents (upstream's
// one hour).
const discoveryMaxAge = 3600

// Discovery serves the issuer's OIDC discovery document and its JSON Web
// Key Set, so that relying parties outside the cluster can verify tokens
// (upstream's ServiceAccountIssuerDiscovery). The API server authorizes
// the paths as non-resource URLs (system:service-account-issuer-discovery).
type Discovery struct {
	config, jwks []byte
}

type openIDConfig struct {
	Issuer        string   `json:"issuer"`
	JWKSURI       string   `json:"jwks_uri"`
	ResponseTypes []string `json:"response_types_supported"`
	SubjectTypes  []string `json:"subject_types_supported"`
	SigningAlgs   []string `json:"id_token_signing_alg_values_supported"`
}

// NewDiscovery renders the documents for cfg. externalAddress (host:port
// of the API server) makes the jwks_uri unless jwksURI is given; the
// issuer must be an https URL without query or fragment, as the OIDC
// specification requires.
func NewDiscovery(cfg Config, jwksURI, externalAddress string) (*Discovery, error) {
	cfg = cfg.withDefaults()
	iss, err := url.Parse(cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("issuer URL: %w", err)
	}
	if iss.Scheme != "https" || iss.RawQuery != "" || iss.Fragment != "" {
		return nil, fmt.Errorf("issuer URL must be https without query or fragment, got: %s", cfg.Issuer)
	}
	if jwksURI == "" {
		if externalAddress == "" {
			return nil, fmt.Errorf("no address to build the jwks_uri from")
		}
		jwksURI = (&url.URL{Scheme: "https", Host: externalAddress, Path: JWKSPath}).String()
	}
	var set jose.JSONWebKeySet
	var algs []string
	for _, k := range cfg.Keys.public {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.key, KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
		if !slices.Contains(algs, string(k.alg)) {
			algs = append(algs, string(k.alg))
		}
	}
	slices.Sort(algs)
	config, err := json.Marshal(openIDConfig{
		Issuer: cfg.Issuer, JWKSURI: jwksURI,
		ResponseTypes: []string{"id_token"}, SubjectTypes: []string{"public"}, SigningAlgs: algs,
	})
	if err != nil {
		return nil, fmt.Errorf("openid configuration: %w", err)
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	return &Discovery{config: config, jwks: jwks}, nil
}

// Handlers maps each document's path to its handler (GET only).
func (d *Discovery) Handlers() map[string]http.Handler {
	return map[string]http.Handler{
		OpenIDConfigPath: document(d.config, "application/json"),
		JWKSPath:         document(d.jwks, "application/jwk-set+json"),
	}
}

func document(body []byte, contentType string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", discoveryMaxAge))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	})
}
