package encryption

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"skiff.dev/skiff/internal/storage"
)

// Wrap is how a server turns encryption on: it loads configFile (or, when
// empty, the data directory's generated one, made on first start), wraps
// inner, records the status, and follows the file until ctx ends.
func Wrap(ctx context.Context, inner storage.Store, dataDir, configFile string) (*Store, error) {
	if configFile == "" {
		var err error
		if configFile, err = EnsureDefault(dataDir); err != nil {
			return nil, err
		}
	}
	t, err := LoadTransformers(configFile)
	if err != nil {
		return nil, err
	}
	s := NewStore(inner, t)
	r := &Reloader{Store: s, ConfigFile: configFile, DataDir: dataDir}
	if err := r.WriteStatus(nil); err != nil {
		return nil, fmt.Errorf("encryption status: %w", err)
	}
	slog.Info("encryption at rest", "config", configFile, "writeKeys", t.WriteKeys())
	go func() {
		r.Run(ctx)
		// The server is stopping: let its last requests finish, then stop
		// polling the kms plugins.
		t := s.Transformers()
		time.AfterFunc(kmsCloseGrace(t), t.Close)
	}()
	return s, nil
}
