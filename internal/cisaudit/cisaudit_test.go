package cisaudit

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	agentserver "skiff.dev/skiff/internal/agent/server"
	"skiff.dev/skiff/internal/storage/encryption"
)

const dataDir = "/var/lib/skiff"

// defaultConfig is what a default skiff server records.
func defaultConfig() *ServerConfig {
	return &ServerConfig{
		BindAddress: "0.0.0.0", SecurePort: 6443,
		Authenticators:     []string{"x509", "serviceaccount", "bootstrap-token"},
		AuthorizationModes: []string{"Node", "RBAC"},
		AdmissionPlugins: []string{"NamespaceLifecycle", "EventRateLimit", "LimitRanger", "ServiceAccount", "Priority", "DefaultTolerationSeconds",
			"DefaultStorageClass", "PodSecurity", "NodeRestriction", "DenyServiceExternalIPs", "ResourceQuota"},
		PodSecurityDefaultEnforce: "baseline",
		TLSCertFile:               dataDir + "/tls/serving.crt", TLSPrivateKeyFile: dataDir + "/tls/serving.key", ClientCAFile: dataDir + "/tls/ca.crt",
		TLSMinVersion: "TLS 1.2", TLSCipherSuites: []string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"},
		KubeletClientCertificate: true, KubeletCertificateAuthority: dataDir + "/tls/ca.crt",
		Datastore: "bolt", EncryptionProviderConfig: dataDir + "/encryption-config.yaml",
		AuditLogPath: dataDir + "/logs/audit.log", AuditLogMaxAge: 30, AuditLogMaxBackup: 10, AuditLogMaxSize: 100,
		ServiceAccountLookup: true, ServiceAccountSigningKeyFile: dataDir + "/tls/service-account.key",
		ControllerManager: true, UseServiceAccountCredentials: true, RootCAFile: dataDir + "/tls/ca.crt", Scheduler: true,
		Agent: true, PodPidsLimit: new(int64(4096)),
	}
}

func defaultFiles() map[string]FileStat {
	f := func(mode fs.FileMode) FileStat { return FileStat{Mode: mode, Owner: "root", Group: "root"} }
	d := func(mode fs.FileMode) FileStat {
		return FileStat{Mode: fs.ModeDir | mode, IsDir: true, Owner: "root", Group: "root"}
	}
	return map[string]FileStat{
		dataDir: d(0o700), dataDir + "/db": d(0o700), dataDir + "/db/state.db": f(0o600),
		dataDir + "/kubeconfig": f(0o600), dataDir + "/server-config.json": f(0o600),
		dataDir + "/tls": d(0o700), dataDir + "/tls/ca.crt": f(0o644), dataDir + "/tls/ca.key": f(0o600),
		dataDir + "/tls/serving.crt": f(0o644), dataDir + "/tls/serving.key": f(0o600),
		dataDir + "/agent/cni/net.d/10-skiff.conflist": f(0o600),
	}
}

func defaultEncryption() *encryption.Configuration {
	return &encryption.Configuration{Resources: []encryption.ResourceConfiguration{{
		Resources: []string{"secrets"},
		Providers: []encryption.ProviderConfiguration{{Secretbox: &encryption.SecretboxConfiguration{}}, {Identity: &encryption.IdentityConfiguration{}}},
	}}}
}

func defaultCluster() *Cluster {
	no := false
	c := &Cluster{AuthenticatedCan: map[string]bool{}}
	for _, n := range []string{"default", "kube-system"} {
		c.Namespaces = append(c.Namespaces, corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}})
		c.ServiceAccounts = append(c.ServiceAccounts, corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: n}, AutomountServiceAccountToken: &no})
	}
	return c
}

// defaultEnv is a default install's Env, without probes.
func defaultEnv() *Env {
	return &Env{DataDir: dataDir, Config: defaultConfig(), Files: defaultFiles(), Encryption: defaultEncryption(), Cluster: defaultCluster(),
		Probes: &Probes{APIServer: "https://127.0.0.1:6443", AnonymousStatus: 401, PprofStatus: 404}}
}

func findings(t *testing.T, env *Env, ids ...string) map[string]Finding {
	t.Helper()
	rep := Run(env, Checks(), ids)
	out := map[string]Finding{}
	for _, f := range rep.Findings {
		out[f.ID] = f
	}
	return out
}

func TestChecksWellFormed(t *testing.T) {
	seen := map[string]bool{}
	checks := Checks()
	if len(checks) < 125 {
		t.Errorf("%d checks, want the benchmark's ~130", len(checks))
	}
	for _, c := range checks {
		if seen[c.ID] {
			t.Errorf("duplicate id %s", c.ID)
		}
		seen[c.ID] = true
		if !strings.HasSuffix(c.Text, "(Automated)") && !strings.HasSuffix(c.Text, "(Manual)") {
			t.Errorf("%s: text %q lacks the benchmark's label", c.ID, c.Text)
		}
		if c.Run == nil {
			t.Errorf("%s: no function", c.ID)
		}
		if sectionTitles[c.Section()] == "" || sectionTitles[c.Group()] == "" {
			t.Errorf("%s: no title for %s or %s", c.ID, c.Section(), c.Group())
		}
	}
}

// A default install passes every scored check.
func TestDefaultInstallPassesScoredChecks(t *testing.T) {
	rep := Run(defaultEnv(), Checks(), nil)
	for _, f := range rep.Findings {
		if f.Scored && f.Status != Pass {
			t.Errorf("%s %s: %s: %s", f.Status, f.ID, f.Text, f.Evidence)
		}
	}
	if rep.Failed() {
		t.Errorf("report failed: %+v", rep.Totals)
	}
}

func TestFileChecks(t *testing.T) {
	cases := []struct {
		name   string
		path   string
		stat   *FileStat // nil: remove
		id     string
		status Status
	}{
		{"admin kubeconfig 600", "/kubeconfig", &FileStat{Mode: 0o600, Owner: "root", Group: "root"}, "1.1.13", Pass},
		{"admin kubeconfig 400", "/kubeconfig", &FileStat{Mode: 0o400, Owner: "root", Group: "root"}, "1.1.13", Pass},
		{"admin kubeconfig 644", "/kubeconfig", &FileStat{Mode: 0o644, Owner: "root", Group: "root"}, "1.1.13", Fail},
		{"admin kubeconfig 640", "/kubeconfig", &FileStat{Mode: 0o640, Owner: "root", Group: "root"}, "1.1.13", Fail},
		{"admin kubeconfig missing", "/kubeconfig", nil, "1.1.13", Fail},
		{"admin kubeconfig owned by a user", "/kubeconfig", &FileStat{Mode: 0o600, Owner: "alice", Group: "root"}, "1.1.14", Fail},
		{"CA key 644 (manual item)", "/tls/ca.key", &FileStat{Mode: 0o644, Owner: "root", Group: "root"}, "1.1.21", Warn},
		{"CA key 644 is still owned by root", "/tls/ca.key", &FileStat{Mode: 0o644, Owner: "root", Group: "root"}, "1.1.19", Pass},
		{"CA key owned by a user", "/tls/ca.key", &FileStat{Mode: 0o600, Owner: "1000", Group: "1000"}, "1.1.19", Fail},
		{"store directory 755", "/db", &FileStat{Mode: fs.ModeDir | 0o755, IsDir: true, Owner: "root", Group: "root"}, "1.1.11", Fail},
		{"server config 644", "/server-config.json", &FileStat{Mode: 0o644, Owner: "root", Group: "root"}, "1.1.1", Fail},
		{"no server config", "/server-config.json", nil, "1.1.1", Warn},
		{"CNI directory 700, file 600 (manual)", "/agent/cni/net.d", &FileStat{Mode: fs.ModeDir | 0o700, IsDir: true, Owner: "root", Group: "root"}, "1.1.9", Pass},
		{"CNI directory owned by a user", "/agent/cni/net.d", &FileStat{Mode: fs.ModeDir | 0o700, IsDir: true, Owner: "alice", Group: "root"}, "1.1.10", Warn},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := defaultEnv()
			if tc.stat == nil {
				delete(env.Files, dataDir+tc.path)
			} else {
				env.Files[dataDir+tc.path] = *tc.stat
			}
			f := findings(t, env, tc.id)[tc.id]
			if f.Status != tc.status {
				t.Errorf("%s = %s (%s), want %s", tc.id, f.Status, f.Evidence, tc.status)
			}
			if f.Status != Pass && f.Remediation == "" {
				t.Errorf("%s: no remediation", tc.id)
			}
		})
	}
}

func TestConfigChecks(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(*ServerConfig)
		id     string
		status Status
	}{
		{"NamespaceLifecycle disabled", func(c *ServerConfig) { c.AdmissionPlugins = c.AdmissionPlugins[1:] }, "1.2.13", Fail},
		{"no NodeRestriction", func(c *ServerConfig) { c.AdmissionPlugins = without(c.AdmissionPlugins, "NodeRestriction") }, "1.2.14", Fail},
		{"no ServiceAccount plug-in", func(c *ServerConfig) { c.AdmissionPlugins = without(c.AdmissionPlugins, "ServiceAccount") }, "1.2.12", Fail},
		{"no EventRateLimit (manual)", func(c *ServerConfig) { c.AdmissionPlugins = without(c.AdmissionPlugins, "EventRateLimit") }, "1.2.9", Warn},
		{"RBAC only", func(c *ServerConfig) { c.AuthorizationModes = []string{"RBAC"} }, "1.2.7", Fail},
		{"no authorizer", func(c *ServerConfig) { c.AuthorizationModes = nil }, "1.2.6", Fail},
		{"audit maxage 7", func(c *ServerConfig) { c.AuditLogMaxAge = 7 }, "1.2.17", Fail},
		{"audit maxage 90", func(c *ServerConfig) { c.AuditLogMaxAge = 90 }, "1.2.17", Pass},
		{"audit maxbackup 0", func(c *ServerConfig) { c.AuditLogMaxBackup = 0 }, "1.2.18", Fail},
		{"audit maxsize 10", func(c *ServerConfig) { c.AuditLogMaxSize = 10 }, "1.2.19", Fail},
		{"no audit log", func(c *ServerConfig) { c.AuditLogPath = "" }, "1.2.16", Fail},
		{"profiling on", func(c *ServerConfig) { c.Profiling = true }, "1.2.15", Fail},
		{"anonymous on (manual)", func(c *ServerConfig) { c.AnonymousAuth = true }, "1.2.1", Warn},
		{"weak suite configured (manual)", func(c *ServerConfig) { c.TLSCipherSuites = append(c.TLSCipherSuites, "TLS_RSA_WITH_AES_128_CBC_SHA") }, "1.2.29", Warn},
		{"etcd over http", func(c *ServerConfig) { c.Datastore, c.DatastoreEndpoint = "etcd", "http://10.0.0.1:2379" }, "1.2.23", Fail},
		{"etcd without client cert", func(c *ServerConfig) { c.Datastore, c.DatastoreEndpoint = "etcd", "https://10.0.0.1:2379" }, "1.2.23", Fail},
		{"etcd with client cert", func(c *ServerConfig) {
			c.Datastore, c.DatastoreEndpoint, c.DatastoreCertFile, c.DatastoreKeyFile = "etcd", "https://10.0.0.1:2379", "/etc/etcd/c.crt", "/etc/etcd/c.key"
		}, "1.2.23", Pass},
		{"etcd without CA", func(c *ServerConfig) { c.Datastore, c.DatastoreEndpoint = "etcd", "https://10.0.0.1:2379" }, "1.2.26", Fail},
		{"external etcd server flags (not checkable)", func(c *ServerConfig) { c.Datastore, c.DatastoreEndpoint = "etcd", "https://10.0.0.1:2379" }, "2.1", Warn},
		{"shared controller identity", func(c *ServerConfig) { c.UseServiceAccountCredentials = false }, "1.3.3", Fail},
		{"controller manager elsewhere", func(c *ServerConfig) { c.ControllerManager, c.UseServiceAccountCredentials = false, false }, "1.3.3", Pass},
		{"node name set (manual)", func(c *ServerConfig) { c.NodeName = "n1" }, "4.2.7", Warn},
		{"pod PID limit set (manual)", func(c *ServerConfig) { c.PodPidsLimit = new(int64(4096)) }, "4.2.13", Pass},
		{"pod PID limit -1 (manual)", func(c *ServerConfig) { c.PodPidsLimit = new(int64(-1)) }, "4.2.13", Warn},
		{"pod PID limit not recorded (manual)", func(c *ServerConfig) { c.PodPidsLimit = nil }, "4.2.13", Warn},
		{"no agent: pod PID limit is the joined agents'", func(c *ServerConfig) { c.Agent, c.PodPidsLimit = false, nil }, "4.2.13", Pass},
		{"PodSecurity off (manual)", func(c *ServerConfig) { c.AdmissionPlugins = without(c.AdmissionPlugins, "PodSecurity") }, "5.2.1", Warn},
		{"PodSecurity default privileged (manual)", func(c *ServerConfig) { c.PodSecurityDefaultEnforce = "privileged" }, "5.2.12", Warn},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := defaultEnv()
			tc.edit(env.Config)
			f := findings(t, env, tc.id)[tc.id]
			if f.Status != tc.status {
				t.Errorf("%s = %s (%s), want %s", tc.id, f.Status, f.Evidence, tc.status)
			}
		})
	}
}

func without(list []string, name string) []string {
	var out []string
	for _, s := range list {
		if s != name {
			out = append(out, s)
		}
	}
	return out
}

func TestNoConfigWarns(t *testing.T) {
	env := defaultEnv()
	env.Config, env.ConfigErr = nil, fs.ErrNotExist
	for id, f := range findings(t, env, "1.2", "1.3") {
		if f.Status != Warn && !f.NotApplicable && id != "1.2.28" { // 1.2.28 reads the encryption file itself
			t.Errorf("%s = %s without a configuration, want WARN", id, f.Status)
		}
	}
}

func TestEncryptionProviders(t *testing.T) {
	cases := []struct {
		name   string
		first  encryption.ProviderConfiguration
		status Status
	}{
		{"secretbox", encryption.ProviderConfiguration{Secretbox: &encryption.SecretboxConfiguration{}}, Pass},
		{"aescbc", encryption.ProviderConfiguration{AESCBC: &encryption.AESConfiguration{}}, Pass},
		{"aesgcm", encryption.ProviderConfiguration{AESGCM: &encryption.AESConfiguration{}}, Warn},
		{"identity", encryption.ProviderConfiguration{Identity: &encryption.IdentityConfiguration{}}, Warn},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := defaultEnv()
			env.Encryption.Resources[0].Providers[0] = tc.first
			if f := findings(t, env, "1.2.28")["1.2.28"]; f.Status != tc.status {
				t.Errorf("1.2.28 = %s (%s), want %s", f.Status, f.Evidence, tc.status)
			}
		})
	}
}

func TestProbeResults(t *testing.T) {
	cases := []struct {
		name   string
		probes Probes
		id     string
		status Status
	}{
		{"anonymous 401", Probes{AnonymousStatus: 401}, "1.2.1", Pass},
		{"anonymous 200 (manual)", Probes{AnonymousStatus: 200}, "1.2.1", Warn},
		{"pprof served", Probes{AnonymousStatus: 401, PprofStatus: 200}, "1.2.15", Fail},
		{"pprof 404", Probes{AnonymousStatus: 401, PprofStatus: 404}, "1.2.15", Pass},
		{"TLS 1.1 accepted (manual)", Probes{TLS: TLSProbe{TLS11: "TLS 1.1 TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"}}, "1.2.29", Warn},
		{"no nodes", Probes{}, "4.2.1", Pass},
		{"agent refuses anonymous", Probes{Nodes: []NodeProbe{{Node: "n", Address: "10.0.0.2:10250", AnonymousRefused: true, AnonymousAnswer: "401 Unauthorized"}}}, "4.2.1", Pass},
		{"agent serves anonymous", Probes{Nodes: []NodeProbe{{Node: "n", Address: "10.0.0.2:10250", AnonymousAnswer: "200 OK"}}}, "4.2.1", Fail},
		{"agent unreachable", Probes{Nodes: []NodeProbe{{Node: "n", Unreachable: "connection refused"}}}, "4.2.1", Warn},
		{"read-only port open (manual)", Probes{Nodes: []NodeProbe{{Node: "n", Address: "10.0.0.2:10250", AnonymousRefused: true, ReadOnlyPortOpen: true}}}, "4.2.4", Warn},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := defaultEnv()
			env.Probes = &tc.probes
			if f := findings(t, env, tc.id)[tc.id]; f.Status != tc.status {
				t.Errorf("%s = %s (%s), want %s", tc.id, f.Status, f.Evidence, tc.status)
			}
		})
	}
}

// probeTLS must see what a weak server accepts, and nothing of a strong one.
func TestProbeTLS(t *testing.T) {
	cases := []struct {
		name string
		cfg  *tls.Config
		want func(TLSProbe) bool
	}{
		{"TLS 1.2+, ECDHE AEAD only", &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}},
			func(p TLSProbe) bool { return p == TLSProbe{} }},
		{"TLS 1.0 allowed", &tls.Config{MinVersion: tls.VersionTLS10},
			func(p TLSProbe) bool { return p.TLS10 != "" && p.TLS11 != "" }},
		{"RSA key exchange allowed", &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}},
			func(p TLSProbe) bool { return strings.Contains(p.WeakCipher, "TLS_RSA_WITH_AES_128_GCM_SHA256") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			srv.TLS = tc.cfg
			srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
			srv.StartTLS()
			defer srv.Close()
			got := probeTLS(srv.Listener.Addr().String(), 0)
			if !tc.want(got) {
				t.Errorf("probe = %+v", got)
			}
		})
	}
}

func TestPolicyChecks(t *testing.T) {
	yes := true
	cases := []struct {
		name   string
		edit   func(*Cluster)
		id     string
		status Status
		names  string
	}{
		{"default wildcard role exempt", func(c *Cluster) {
			c.ClusterRoles = append(c.ClusterRoles, clusterRole("cluster-admin", map[string]string{bootstrapLabel: bootstrapLabelValue}, "*"))
		}, "5.1.3", Pass, ""},
		{"extra wildcard clusterrole", func(c *Cluster) { c.ClusterRoles = append(c.ClusterRoles, clusterRole("too-much", nil, "*")) }, "5.1.3", Warn, "clusterrole too-much"},
		{"default SA automounts", func(c *Cluster) { c.ServiceAccounts[0].AutomountServiceAccountToken = &yes }, "5.1.5", Warn, "serviceaccount default/default"},
		{"default SA unset", func(c *Cluster) { c.ServiceAccounts[1].AutomountServiceAccountToken = nil }, "5.1.5", Warn, "serviceaccount kube-system/default"},
		{"privileged namespace label", func(c *Cluster) {
			c.Namespaces[0].Labels = map[string]string{enforceLabel: "privileged"}
		}, "5.2.1", Warn, "namespace default enforces \"privileged\""},
		{"authenticated can list secrets", func(c *Cluster) { c.AuthenticatedCan["list secrets"] = true }, "5.1.2", Warn, "list secrets"},
		{"pod in default namespace", func(c *Cluster) {
			c.Pods = append(c.Pods, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}})
		}, "5.7.4", Warn, "pod default/p"},
		{"secret as env", func(c *Cluster) {
			c.Pods = append(c.Pods, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "app"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "c", Env: []corev1.EnvVar{{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "pw"}}}},
			}}}})
		}, "5.4.1", Warn, "env PW from secret db"},
		{"extra cluster-admin binding", func(c *Cluster) {
			c.ClusterRoleBindings = append(c.ClusterRoleBindings, clusterAdminBinding("bob-admin", "bob"))
		}, "5.1.1", Warn, "clusterrolebinding bob-admin: User bob"},
		{"default cluster-admin binding", func(c *Cluster) {
			c.ClusterRoleBindings = append(c.ClusterRoleBindings, clusterAdminBinding("cluster-admin", "system:masters"))
		}, "5.1.1", Pass, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := defaultEnv()
			tc.edit(env.Cluster)
			f := findings(t, env, tc.id)[tc.id]
			if f.Status != tc.status || !strings.Contains(f.Evidence, tc.names) {
				t.Errorf("%s = %s (%s), want %s naming %q", tc.id, f.Status, f.Evidence, tc.status, tc.names)
			}
		})
	}
}

func TestNoClusterWarns(t *testing.T) {
	env := defaultEnv()
	env.Cluster, env.ClusterErr = nil, fs.ErrNotExist
	for id, f := range findings(t, env, "5") {
		if f.Status != Warn {
			t.Errorf("%s = %s without the API, want WARN", id, f.Status)
		}
	}
}

func TestOutput(t *testing.T) {
	env := defaultEnv()
	env.Files[filepath.Join(dataDir, "kubeconfig")] = FileStat{Mode: 0o644, Owner: "root", Group: "root"}
	rep := Run(env, Checks(), []string{"1.1.13", "1.1.20", "1.2"})
	// 1.1.20, 1.2.11 (no AlwaysPullImages) and 1.2.20 (manual) warn.
	if !rep.Failed() || rep.Totals.Fail != 1 || rep.Totals.Warn != 3 {
		t.Fatalf("totals %+v, want 1 FAIL (1.1.13) and 3 WARN", rep.Totals)
	}
	var text bytes.Buffer
	if err := WriteText(&text, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"[INFO] 1 Control Plane Security Configuration\n",
		"[FAIL] 1.1.13 Ensure that the default administrative credential file permissions are set to 600 (Automated)\n      /var/lib/skiff/kubeconfig: permissions 644, more than 600\n      Remediation: chmod 600 <data-dir>/kubeconfig\n",
		"[WARN] 1.1.20 ",
		"[PASS] 1.2.8 ",
		"== Summary total ==\n",
		"1 checks FAIL\n",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, text.String())
		}
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Findings[0].ID != "1.1.13" || back.Findings[0].Status != Fail || !back.Findings[0].Scored || back.Findings[0].Type != "automated" || back.Benchmark != BenchmarkVersion {
		t.Errorf("json finding %+v", back.Findings[0])
	}
}

func clusterRole(name string, labels map[string]string, resource string) rbacv1.ClusterRole {
	return rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{resource}, Verbs: []string{"get"}}}}
}

func clusterAdminBinding(name, subject string) rbacv1.ClusterRoleBinding {
	kind := rbacv1.UserKind
	if strings.HasPrefix(subject, "system:") {
		kind = rbacv1.GroupKind
	}
	return rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{Kind: kind, Name: subject}}}
}

// probeNode against the agent's real TLS settings, and against an agent
// that would serve anyone.
func TestProbeNode(t *testing.T) {
	mtls := agentserver.TLSConfig(tls.Certificate{}, x509.NewCertPool())
	mtls.Certificates = nil // httptest's own
	cases := []struct {
		name    string
		cfg     *tls.Config
		refused bool
	}{
		{"agent TLS: client certificate required", mtls, true},
		{"no client authentication", &tls.Config{MinVersion: tls.VersionTLS12}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			srv.TLS = tc.cfg
			srv.Config.ErrorLog = log.New(io.Discard, "", 0)
			srv.StartTLS()
			defer srv.Close()
			addr := srv.Listener.Addr().(*net.TCPAddr)
			node := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{
				Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: addr.IP.String()}},
				DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(addr.Port)}},
			}}
			got := probeNode(context.Background(), node, 2*time.Second)
			if got.AnonymousRefused != tc.refused || !got.ServingCertificate || got.Unreachable != "" {
				t.Errorf("probe = %+v, want refused=%v with a serving certificate", got, tc.refused)
			}
			env := defaultEnv()
			env.Probes.Nodes = []NodeProbe{got}
			want := map[bool]Status{true: Pass, false: Fail}[tc.refused]
			if f := findings(t, env, "4.2.1")["4.2.1"]; f.Status != want {
				t.Errorf("4.2.1 = %s (%s), want %s", f.Status, f.Evidence, want)
			}
		})
	}
}

// TestEventRateLimitEvidence: 1.2.9 says which limits are in effect and
// whether they come from --admission-control-config-file, where CIS asks
// for them.
func TestEventRateLimitEvidence(t *testing.T) {
	env := defaultEnv()
	env.Config.EventRateLimits = []string{"Server qps=100 burst=1000"}
	f := findings(t, env, "1.2.9")["1.2.9"]
	if f.Status != Pass || !strings.Contains(f.Evidence, "Server qps=100 burst=1000 from Skiff's defaults (no --admission-control-config-file)") {
		t.Errorf("default: 1.2.9 = %s (%s)", f.Status, f.Evidence)
	}
	env.Config.AdmissionControlConfigFile = "/etc/skiff/admission.yaml"
	f = findings(t, env, "1.2.9")["1.2.9"]
	if f.Status != Pass || !strings.Contains(f.Evidence, "from --admission-control-config-file /etc/skiff/admission.yaml") {
		t.Errorf("with the file: 1.2.9 = %s (%s)", f.Status, f.Evidence)
	}
}
