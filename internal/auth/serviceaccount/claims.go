package serviceaccount

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4/jwt"
)

// Defaults, as upstream.
const (
	// DefaultIssuer is the iss of bound tokens unless
	// --service-account-issuer says otherwise.
	DefaultIssuer = "https://kubernetes.default.svc.cluster.local"
	// LegacyIssuer is the iss of Secret-based tokens.
	LegacyIssuer = "kubernetes/serviceaccount"
)

// User names and groups of service accounts, as upstream.
const (
	UserPrefix        = "system:serviceaccount:"
	GroupAll          = "system:serviceaccounts"
	GroupPrefix       = "system:serviceaccounts:"
	ExtraPodName      = "authentication.kubernetes.io/pod-name"
	ExtraPodUID       = "authentication.kubernetes.io/pod-uid"
	ExtraNodeName     = "authentication.kubernetes.io/node-name"
	ExtraNodeUID      = "authentication.kubernetes.io/node-uid"
	ExtraCredentialID = "authentication.kubernetes.io/credential-id"
)

// UserName is the user a service account authenticates as.
func UserName(namespace, name string) string {
	return UserPrefix + namespace + ":" + name
}

// splitUserName undoes UserName.
func splitUserName(user string) (namespace, name string, ok bool) {
	rest, ok := strings.CutPrefix(user, UserPrefix)
	if !ok {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	return namespace, name, ok && namespace != "" && name != "" && !strings.Contains(name, ":")
}

// privateClaims is upstream's "kubernetes.io" claim of bound tokens.
type privateClaims struct {
	Kubernetes *kubernetesClaims `json:"kubernetes.io,omitempty"`
}

type kubernetesClaims struct {
	Namespace      string           `json:"namespace,omitempty"`
	ServiceAccount ref              `json:"serviceaccount,omitempty"`
	Pod            *ref             `json:"pod,omitempty"`
	Secret         *ref             `json:"secret,omitempty"`
	Node           *ref             `json:"node,omitempty"`
	WarnAfter      *jwt.NumericDate `json:"warnafter,omitempty"`
}

type ref struct {
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// legacyClaims are the private claims of Secret-based tokens.
type legacyClaims struct {
	ServiceAccountName string `json:"kubernetes.io/serviceaccount/service-account.name"`
	ServiceAccountUID  string `json:"kubernetes.io/serviceaccount/service-account.uid"`
	SecretName         string `json:"kubernetes.io/serviceaccount/secret.name"`
	Namespace          string `json:"kubernetes.io/serviceaccount/namespace"`
}

// peekIssuer reads a compact JWS's iss without verifying it: a token
// whose issuer is not ours is someone else's to judge (upstream's
// hasCorrectIssuer).
func peekIssuer(token string) (string, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", false
	}
	payload, err := decodeSegment(parts[1])
	if err != nil {
		return "", false
	}
	var claims struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", false
	}
	return claims.Issuer, true
}

func decodeSegment(s string) ([]byte, error) {
	b, err := base64URL.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("decode token segment: %w", err)
	}
	return b, nil
}

var base64URL = base64.RawURLEncoding
