// Package kmstest is a KMS v2 plugin for tests: a real gRPC server of the
// KeyManagementService API (k8s.io/kms/apis/v2) on a unix socket that
// "encrypts" with local AES-GCM keys, one per key ID. Tests change its key
// ID (a key rotation in the KMS), stop and restart it (a plugin outage),
// and count its calls (DEK reuse and caching).
//
// It is not a key management system: the keys live in the test's memory.
package kmstest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	kmsapi "k8s.io/kms/apis/v2"
)

// AnnotationKey is the annotation the plugin returns with every
// ciphertext (the key ID again), so that annotations travel through the
// stored value and back to Decrypt.
const AnnotationKey = "key-id.kmstest.skiff.dev"

// Plugin is the test plugin. Its methods are safe for concurrent use.
type Plugin struct {
	kmsapi.UnimplementedKeyManagementServiceServer

	// Socket is the unix socket path; Endpoint is it as a kms endpoint.
	Socket, Endpoint string

	mu      sync.Mutex
	keyID   string
	keys    map[string]cipher.AEAD
	healthz string
	srv     *grpc.Server

	encrypts, decrypts, statuses atomic.Int64
}

var _ kmsapi.KeyManagementServiceServer = (*Plugin)(nil)

// Start serves a new plugin with key ID "key-1" on a socket in a new
// directory under dir ("" for the system's temporary directory: unix
// socket paths are limited to about 100 bytes, which test directories can
// exceed). Close ends it.
func Start(dir string) (*Plugin, error) {
	d, err := os.MkdirTemp(dir, "kms")
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(d, "kms.sock")
	p := &Plugin{Socket: sock, Endpoint: "unix://" + sock, keys: map[string]cipher.AEAD{}, healthz: "ok"}
	if err := p.SetKeyID("key-1"); err != nil {
		return nil, err
	}
	return p, p.Restart()
}

// Restart serves again after Stop (same keys, same socket).
func (p *Plugin) Restart() error {
	_ = os.Remove(p.Socket)
	l, err := net.Listen("unix", p.Socket)
	if err != nil {
		return fmt.Errorf("kmstest: listen: %w", err)
	}
	srv := grpc.NewServer()
	kmsapi.RegisterKeyManagementServiceServer(srv, p)
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
	return nil
}

// Stop ends the server: calls fail as with a crashed plugin.
func (p *Plugin) Stop() {
	p.mu.Lock()
	srv := p.srv
	p.srv = nil
	p.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
	_ = os.Remove(p.Socket)
}

// Close stops the plugin and removes its directory.
func (p *Plugin) Close() {
	p.Stop()
	_ = os.RemoveAll(filepath.Dir(p.Socket))
}

// SetKeyID makes id the key new ciphertexts use, with a new random key if
// id is new. Ciphertexts of earlier key IDs still decrypt.
func (p *Plugin) SetKeyID(id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.keys[id]; !ok {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return err
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return err
		}
		p.keys[id] = aead
	}
	p.keyID = id
	return nil
}

// SetHealthz sets what Status reports as healthz ("ok" is healthy).
func (p *Plugin) SetHealthz(h string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.healthz = h
}

// Calls counts the Encrypt, Decrypt and Status calls served.
func (p *Plugin) Calls() (encrypt, decrypt, status int64) {
	return p.encrypts.Load(), p.decrypts.Load(), p.statuses.Load()
}

func (p *Plugin) Status(context.Context, *kmsapi.StatusRequest) (*kmsapi.StatusResponse, error) {
	p.statuses.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	return &kmsapi.StatusResponse{Version: "v2", Healthz: p.healthz, KeyId: p.keyID}, nil
}

func (p *Plugin) Encrypt(_ context.Context, req *kmsapi.EncryptRequest) (*kmsapi.EncryptResponse, error) {
	p.encrypts.Add(1)
	p.mu.Lock()
	id, aead := p.keyID, p.keys[p.keyID]
	p.mu.Unlock()
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &kmsapi.EncryptResponse{
		Ciphertext:  aead.Seal(nonce, nonce, req.Plaintext, []byte(id)),
		KeyId:       id,
		Annotations: map[string][]byte{AnnotationKey: []byte(id)},
	}, nil
}

func (p *Plugin) Decrypt(_ context.Context, req *kmsapi.DecryptRequest) (*kmsapi.DecryptResponse, error) {
	p.decrypts.Add(1)
	if string(req.Annotations[AnnotationKey]) != req.KeyId {
		return nil, status.Error(codes.InvalidArgument, "annotations do not match the key ID")
	}
	p.mu.Lock()
	aead := p.keys[req.KeyId]
	p.mu.Unlock()
	if aead == nil {
		return nil, status.Errorf(codes.NotFound, "unknown key ID %q", req.KeyId)
	}
	ns := aead.NonceSize()
	if len(req.Ciphertext) < ns {
		return nil, status.Error(codes.InvalidArgument, "ciphertext too short")
	}
	out, err := aead.Open(nil, req.Ciphertext[:ns], req.Ciphertext[ns:], []byte(req.KeyId))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, errors.Join(errors.New("decrypt"), err).Error())
	}
	return &kmsapi.DecryptResponse{Plaintext: out}, nil
}
