package encryption_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"skiff.dev/skiff/internal/storage"
	"skiff.dev/skiff/internal/storage/bolt"
	"skiff.dev/skiff/internal/storage/encryption"
	"skiff.dev/skiff/internal/storage/encryption/kmstest"
)

// A Secret created through the API with a KMS v2 provider first is stored
// as upstream's envelope, nowhere in plain text, and reads back after a
// restart (the seed decrypted by the plugin again).
func TestNoPlaintextSecretWithKMS(t *testing.T) {
	plugin, err := kmstest.Start("")
	if err != nil {
		t.Fatal(err)
	}
	defer plugin.Close()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "encryption.yaml")
	cfg := fmt.Sprintf(`apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - kms:
      apiVersion: v2
      name: test-kms
      endpoint: %s
      timeout: 3s
  - identity: {}
`, plugin.Endpoint)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServerWith(t, dir, cfgPath)
	ctx := context.Background()
	value := fmt.Sprintf("kms-s3cr3t-%d", time.Now().UnixNano())
	for i := range 3 {
		createSecret(t, s.client, "default", fmt.Sprintf("db%d", i), fmt.Sprintf("%s-%d", value, i))
	}
	got, err := s.client.CoreV1().Secrets("default").Get(ctx, "db1", metav1.GetOptions{})
	if err != nil || string(got.Data["password"]) != value+"-1" {
		t.Fatalf("read back: %v %v", got, err)
	}
	st, err := encryption.ReadStatus(dir)
	if err != nil || st.WriteKeys["secrets"] != "kms:test-kms" {
		t.Fatalf("status: %+v %v", st, err)
	}
	if enc, dec, _ := plugin.Calls(); enc != 1 || dec != 0 {
		t.Fatalf("plugin calls for 3 writes and reads: %d Encrypt, %d Decrypt; want 1, 0", enc, dec)
	}
	health := func(s *server, path string) (int, string) {
		var code int
		p, query, _ := strings.Cut(path, "?")
		req := s.client.CoreV1().RESTClient().Get().AbsPath(p)
		if query != "" {
			req = req.Param(query, "")
		}
		body, err := req.Do(ctx).StatusCode(&code).Raw()
		// client-go turns a plain-text 500 into a Status error.
		if st, ok := err.(apierrors.APIStatus); ok && code == 0 {
			return int(st.Status().Code), err.Error()
		}
		return code, string(body)
	}
	if code, body := health(s, "/healthz/kms-providers"); code != 200 || body != "ok" {
		t.Fatalf("/healthz/kms-providers: %d %q", code, body)
	}
	if code, body := health(s, "/livez?verbose"); code != 200 || !strings.Contains(body, "[+]kms-providers ok") {
		t.Fatalf("/livez?verbose: %d %q", code, body)
	}
	// Rotate with kms first makes no key and leaves the file alone: it
	// rewrites the Secrets with the current data key.
	res, err := encryption.Rotate(ctx, encryption.RotateOptions{DataDir: dir, Client: s.client, Timeout: 30 * time.Second})
	if err != nil || res.KMS != "test-kms" || res.Rewritten != 3 || res.NewKey != "" {
		t.Fatalf("Rotate: %+v %v", res, err)
	}
	if after, _ := os.ReadFile(cfgPath); string(after) != cfg {
		t.Fatalf("Rotate changed the configuration:\n%s", after)
	}
	s.stop()

	var values []string
	for i := range 3 {
		values = append(values, fmt.Sprintf("%s-%d", value, i), fmt.Sprintf("%s-%d-token", value, i))
	}
	assertNoPlaintext(t, s.db, values...)
	db, err := bolt.Open(s.db)
	if err != nil {
		t.Fatal(err)
	}
	list, err := db.List(ctx, "/registry/core/secrets/", storage.ListOptions{})
	db.Close()
	if err != nil || len(list.Items) != 3 {
		t.Fatalf("stored secrets: %d %v", len(list.Items), err)
	}
	for _, kv := range list.Items {
		if !bytes.HasPrefix(kv.Value, []byte("k8s:enc:kms:v2:test-kms:")) {
			t.Fatalf("%s stored as %.40q", kv.Key, kv.Value)
		}
	}

	s2 := startServerWith(t, dir, cfgPath)
	got, err = s2.client.CoreV1().Secrets("default").Get(ctx, "db2", metav1.GetOptions{})
	if err != nil || string(got.Data["password"]) != value+"-2" {
		t.Fatalf("after restart: %v %v", got, err)
	}
	if _, dec, _ := plugin.Calls(); dec != 1 {
		t.Fatalf("Decrypt calls after restart: %d, want 1", dec)
	}

	// A server whose plugin is down (here: on another, empty data
	// directory) reports it.
	down, err := kmstest.Start("")
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	down.Stop()
	downDir := t.TempDir()
	downCfg := filepath.Join(downDir, "encryption.yaml")
	if err := os.WriteFile(downCfg, []byte(strings.ReplaceAll(cfg, plugin.Endpoint, down.Endpoint)), 0o600); err != nil {
		t.Fatal(err)
	}
	sd := startServerWith(t, downDir, downCfg)
	if code, body := health(sd, "/healthz/kms-providers"); code != 500 || !strings.Contains(body, "kms-provider-0") {
		t.Fatalf("/healthz/kms-providers with the plugin down: %d %q", code, body)
	}
	if code, body := health(sd, "/readyz"); code != 500 || !strings.Contains(body, "[-]kms-providers failed") {
		t.Fatalf("/readyz with the plugin down: %d %q", code, body)
	}

	// With the plugin gone, Secrets whose seed is cached still read.
	plugin.Stop()
	got, err = s2.client.CoreV1().Secrets("default").Get(ctx, "db0", metav1.GetOptions{})
	if err != nil || string(got.Data["password"]) != value+"-0" {
		t.Fatalf("read with the plugin down: %v %v", got, err)
	}
}
