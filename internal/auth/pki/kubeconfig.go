package pki

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KubeconfigBytes returns a kubeconfig with one cluster, one user and one
// context ("user@cluster", made current), with the CA, client certificate and
// key embedded as data so the file is self-contained and can be copied.
func KubeconfigBytes(serverURL, clusterName, userName string, caPEM, certPEM, keyPEM []byte) ([]byte, error) {
	switch {
	case serverURL == "":
		return nil, errors.New("kubeconfig: server URL is empty")
	case clusterName == "" || userName == "":
		return nil, errors.New("kubeconfig: cluster and user names must not be empty")
	case len(caPEM) == 0 || len(certPEM) == 0 || len(keyPEM) == 0:
		return nil, errors.New("kubeconfig: CA, certificate and key data must not be empty")
	}
	contextName := userName + "@" + clusterName
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[clusterName] = &clientcmdapi.Cluster{
		Server:                   serverURL,
		CertificateAuthorityData: caPEM,
	}
	cfg.AuthInfos[userName] = &clientcmdapi.AuthInfo{
		ClientCertificateData: certPEM,
		ClientKeyData:         keyPEM,
	}
	cfg.Contexts[contextName] = &clientcmdapi.Context{
		Cluster:  clusterName,
		AuthInfo: userName,
	}
	cfg.CurrentContext = contextName
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("encode kubeconfig: %w", err)
	}
	return data, nil
}

// WriteKubeconfig writes the kubeconfig described at KubeconfigBytes to path,
// atomically and with mode 0600 (it holds a private key). An identical file is
// left untouched.
func WriteKubeconfig(path, serverURL, clusterName, userName string, caPEM, certPEM, keyPEM []byte) error {
	data, err := KubeconfigBytes(serverURL, clusterName, userName, caPEM, certPEM, keyPEM)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data, keyMode)
}

// ServerURL returns the URL local clients should use to reach an API server
// bound to bindAddress:port. A wildcard or loopback bind address is reached
// through 127.0.0.1, which the serving certificate always covers.
func ServerURL(bindAddress string, port int) string {
	host := normalizeHost(bindAddress)
	if ip := net.ParseIP(host); host == "" || host == "localhost" || (ip != nil && (ip.IsUnspecified() || ip.IsLoopback())) {
		host = "127.0.0.1"
	}
	return "https://" + net.JoinHostPort(host, strconv.Itoa(port))
}
