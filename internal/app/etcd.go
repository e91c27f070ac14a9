package app

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"skiff.dev/skiff/internal/storage"
	"skiff.dev/skiff/internal/storage/etcd"
)

// etcdKeyPrefix keeps Skiff's keys apart from anything else in a shared
// etcd cluster.
const etcdKeyPrefix = "/skiff"

// openEtcd connects to the etcd cluster named by --datastore-endpoint,
// with mutual TLS when the datastore certificate flags are given.
func openEtcd(opts ServerOptions) (storage.Store, error) {
	var endpoints []string
	for _, e := range strings.Split(opts.DatastoreEndpoint, ",") {
		if e = strings.TrimSpace(e); e != "" {
			endpoints = append(endpoints, e)
		}
	}
	var tlsCfg *tls.Config
	if opts.DatastoreCAFile != "" || opts.DatastoreCertFile != "" {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
		if opts.DatastoreCAFile != "" {
			pem, err := os.ReadFile(opts.DatastoreCAFile)
			if err != nil {
				return nil, fmt.Errorf("read datastore CA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("datastore CA %s holds no certificate", opts.DatastoreCAFile)
			}
			tlsCfg.RootCAs = pool
		}
		if opts.DatastoreCertFile != "" {
			cert, err := tls.LoadX509KeyPair(opts.DatastoreCertFile, opts.DatastoreKeyFile)
			if err != nil {
				return nil, fmt.Errorf("load datastore client certificate: %w", err)
			}
			tlsCfg.Certificates = []tls.Certificate{cert}
		}
	}
	st, err := etcd.New(etcd.Config{Endpoints: endpoints, TLS: tlsCfg, Prefix: etcdKeyPrefix})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd: %w", err)
	}
	return st, nil
}
