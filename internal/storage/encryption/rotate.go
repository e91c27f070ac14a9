package encryption

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// RotateOptions are what Rotate needs from a running server.
type RotateOptions struct {
	// DataDir is the server's data directory (status file).
	DataDir string
	// Client talks to the server.
	Client kubernetes.Interface
	// Timeout bounds each wait for the server to load a configuration.
	Timeout time.Duration
	// Out receives progress lines.
	Out io.Writer
}

// RotateResult says what a rotation did.
type RotateResult struct {
	NewKey    string
	Rewritten int
	Dropped   []string
	// KMS names the kms provider that writes Secrets when the rotation
	// only rewrote them (no new key: KMS keys rotate in the KMS).
	KMS string
}

// Rotate puts a new secretbox key first in the server's configuration,
// waits until the server writes with it, rewrites every Secret through the
// API, then drops the old keys (identity stays readable if configured)
// and waits for the server to load that. Only a configuration whose rules
// cover nothing but "secrets" is rotated: other resources would need
// rewriting too.
//
// When a kms provider writes Secrets, Rotate makes no key and changes no
// file: the key encryption key is rotated in the KMS (the plugin then
// reports a new key ID, and the server makes a new data key at its next
// Status poll). Rotate rewrites every Secret, so that each is stored with
// the server's current data key and KMS key ID.
func Rotate(ctx context.Context, o RotateOptions) (RotateResult, error) {
	var res RotateResult
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	st, err := ReadStatus(o.DataDir)
	if err != nil {
		return res, err
	}
	cfg, raw, err := LoadFile(st.ConfigFile)
	if err != nil {
		return res, err
	}
	if HashOf(raw) != st.Hash {
		return res, fmt.Errorf("the server does not use %s as it is on disk (load error: %q); fix the file first", st.ConfigFile, st.LoadError)
	}
	idx := -1
	for i, rc := range cfg.Resources {
		for _, r := range rc.Resources {
			if r != "secrets" {
				return res, fmt.Errorf("resources[%d] covers %q: rotate re-encrypts Secrets only", i, r)
			}
		}
		if idx < 0 {
			idx = i
		}
	}
	if idx < 0 {
		return res, errors.New("no rule covers secrets")
	}
	rc := &cfg.Resources[idx]
	if k := rc.Providers[0].KMS; k != nil {
		res.KMS = k.Name
		fmt.Fprintf(o.Out, "Secrets are written with kms provider %s: its key is rotated in the KMS, not here.\n"+
			"Rewriting every Secret so that each is stored with the server's current data key and KMS key ID\n"+
			"(a key ID change reaches the server at its next Status poll, within a minute).\n", k.Name)
		n, err := rewriteSecrets(ctx, o.Client)
		res.Rewritten = n
		if err != nil {
			return res, fmt.Errorf("rewrite secrets (%d done): %w", n, err)
		}
		fmt.Fprintf(o.Out, "rewrote %d secrets\n", n)
		return res, nil
	}
	taken := map[string]bool{}
	for _, p := range rc.Providers {
		for _, k := range providerKeys(p) {
			taken[k.Name] = true
		}
	}
	key, err := NewSecretboxKey(taken)
	if err != nil {
		return res, err
	}
	res.NewKey = key.Name
	old := rc.Providers
	rc.Providers = append([]ProviderConfiguration{{Secretbox: &SecretboxConfiguration{Keys: []Key{key}}}}, old...)
	if err := writeAndWait(ctx, o, st.ConfigFile, cfg); err != nil {
		return res, err
	}
	fmt.Fprintf(o.Out, "server writes Secrets with secretbox key %s\n", key.Name)

	n, err := rewriteSecrets(ctx, o.Client)
	res.Rewritten = n
	if err != nil {
		return res, fmt.Errorf("rewrite secrets (%d done; the old keys stay configured): %w", n, err)
	}
	fmt.Fprintf(o.Out, "rewrote %d secrets\n", n)

	kept := []ProviderConfiguration{rc.Providers[0]}
	for _, p := range old {
		if ks := providerKeys(p); len(ks) > 0 {
			for _, k := range ks {
				res.Dropped = append(res.Dropped, k.Name)
			}
			continue
		}
		if p.KMS != nil {
			continue
		}
		kept = append(kept, p)
	}
	rc.Providers = kept
	if err := writeAndWait(ctx, o, st.ConfigFile, cfg); err != nil {
		return res, err
	}
	fmt.Fprintf(o.Out, "dropped old keys %v\n", res.Dropped)
	return res, nil
}

func providerKeys(p ProviderConfiguration) []Key {
	switch {
	case p.Secretbox != nil:
		return p.Secretbox.Keys
	case p.AESGCM != nil:
		return p.AESGCM.Keys
	case p.AESCBC != nil:
		return p.AESCBC.Keys
	}
	return nil
}

// writeAndWait writes cfg and waits until the server's status shows it
// loaded these exact bytes.
func writeAndWait(ctx context.Context, o RotateOptions, path string, cfg *Configuration) error {
	if err := WriteConfig(path, cfg); err != nil {
		return err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	want := HashOf(raw)
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := ReadStatus(o.DataDir)
		if err == nil && st.Hash == want {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil && st.LoadError != "" {
				err = errors.New(st.LoadError)
			}
			return fmt.Errorf("the server did not load %s within %v (last status error: %v)", path, o.Timeout, err)
		case <-tick.C:
		}
	}
}

// rewriteSecrets updates every Secret in every namespace so that the
// server stores it again with its current write key.
func rewriteSecrets(ctx context.Context, c kubernetes.Interface) (int, error) {
	n := 0
	opts := metav1.ListOptions{Limit: 500}
	for {
		list, err := c.CoreV1().Secrets("").List(ctx, opts)
		if err != nil {
			return n, fmt.Errorf("list secrets: %w", err)
		}
		for i := range list.Items {
			if err := rewriteSecret(ctx, c, &list.Items[i]); err != nil {
				return n, err
			}
			n++
		}
		if list.Continue == "" {
			return n, nil
		}
		opts.Continue = list.Continue
	}
}

func rewriteSecret(ctx context.Context, c kubernetes.Interface, s *corev1.Secret) error {
	api := c.CoreV1().Secrets(s.Namespace)
	for attempt := 0; ; attempt++ {
		_, err := api.Update(ctx, s, metav1.UpdateOptions{FieldManager: "skiff-secrets-encrypt"})
		switch {
		case apierrors.IsNotFound(err):
			return nil // deleted meanwhile: nothing left to re-encrypt
		case apierrors.IsConflict(err) && attempt < 5:
			// Changed meanwhile; that write may predate the new key.
			if s, err = api.Get(ctx, s.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
				return nil
			} else if err != nil {
				return fmt.Errorf("get secret %s/%s: %w", s.Namespace, s.Name, err)
			}
			continue
		case err != nil:
			return fmt.Errorf("update secret %s/%s: %w", s.Namespace, s.Name, err)
		}
		// An update that changes nothing is still written when the
		// stored value is stale (storage.StaleChecker): the Secret is now
		// under the new key either way.
		return nil
	}
}
