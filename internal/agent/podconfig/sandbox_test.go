package podconfig

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"skiff.dev/skiff/internal/agent/runtime"
)

func TestPortMappings(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: 80, HostPort: 8080, Protocol: "TCP"},
			{Name: "http", ContainerPort: 81, Protocol: "TCP"}, // duplicate name: dropped
			{ContainerPort: 53, HostPort: 5353, Protocol: "UDP", HostIP: "127.0.0.1"},
			{ContainerPort: 53, HostPort: 5353, Protocol: "UDP", HostIP: "::1"},
		}},
		{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9000}}},
	}}}
	want := []runtime.PortMapping{
		{Protocol: "TCP", ContainerPort: 80, HostPort: 8080},
		{Protocol: "UDP", ContainerPort: 53, HostPort: 5353, HostIP: "127.0.0.1"},
		{Protocol: "UDP", ContainerPort: 53, HostPort: 5353, HostIP: "::1"},
		{Protocol: "TCP", ContainerPort: 9000},
	}
	if got := PortMappings(pod); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
}

func TestHostname(t *testing.T) {
	long := strings.Repeat("a", 62) + "-b"
	tests := []struct {
		name                      string
		spec                      corev1.PodSpec
		podName                   string
		wantHost, wantDomain, err string
		sandbox                   string
	}{
		{name: "pod name", podName: "web-0", wantHost: "web-0", sandbox: "web-0"},
		{name: "hostname and subdomain", podName: "web-0", spec: corev1.PodSpec{Hostname: "db", Subdomain: "svc1"},
			wantHost: "db", wantDomain: "svc1.ns.svc.cluster.local", sandbox: "db"},
		{name: "fqdn", podName: "web-0", spec: corev1.PodSpec{Subdomain: "s", SetHostnameAsFQDN: ptr.To(true)},
			wantHost: "web-0", wantDomain: "s.ns.svc.cluster.local", sandbox: "web-0.s.ns.svc.cluster.local"},
		{name: "long name truncated", podName: long, wantHost: strings.Repeat("a", 62), sandbox: strings.Repeat("a", 62)},
		{name: "host network", podName: "web-0", spec: corev1.PodSpec{HostNetwork: true}, wantHost: "web-0", sandbox: ""},
		{name: "override", podName: "web-0", spec: corev1.PodSpec{Subdomain: "s", HostnameOverride: ptr.To("my.host")}, wantHost: "my.host", sandbox: "my.host"},
		{name: "bad hostname", podName: "web-0", spec: corev1.PodSpec{Hostname: "Bad_Name"}, err: `pod Hostname "Bad_Name" is not a valid DNS label`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tc.podName, Namespace: "ns"}, Spec: tc.spec}
			h, d, err := Hostname(pod, "cluster.local")
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || h != tc.wantHost || d != tc.wantDomain {
				t.Fatalf("got %q %q %v", h, d, err)
			}
			s, err := SandboxHostname(pod, "cluster.local")
			if err != nil || s != tc.sandbox {
				t.Fatalf("sandbox hostname %q %v, want %q", s, err, tc.sandbox)
			}
		})
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("x", 40), Namespace: "ns"},
		Spec: corev1.PodSpec{Subdomain: "sub", SetHostnameAsFQDN: ptr.To(true)}}
	if _, err := SandboxHostname(pod, "cluster.local"); err == nil || !strings.Contains(err.Error(), "is too long (64 characters is the max") {
		t.Fatalf("fqdn too long: %v", err)
	}
}

func TestContainerHash(t *testing.T) {
	a := &corev1.Container{Name: "app", Image: "nginx:1", Env: []corev1.EnvVar{{Name: "X", Value: "1"}}}
	b := a.DeepCopy()
	b.Env = nil
	if ContainerHash(a) != ContainerHash(b) {
		t.Fatal("env changes the hash; upstream hashes name and image only")
	}
	b.Image = "nginx:2"
	if ContainerHash(a) == ContainerHash(b) {
		t.Fatal("image change keeps the hash")
	}
	if ContainerHash(&corev1.Container{Name: "ab", Image: "c"}) == ContainerHash(&corev1.Container{Name: "a", Image: "bc"}) {
		t.Fatal("ambiguous hash input")
	}
}

func TestDNS(t *testing.T) {
	host := ParseResolvConf([]byte("# comment\nnameserver 192.168.0.1\nnameserver 192.168.0.2\nsearch old.example\nsearch corp.example. .\noptions ndots:2 edns0\noptions ndots:3\n"))
	if !reflect.DeepEqual(*host, runtime.DNSConfig{Servers: []string{"192.168.0.1", "192.168.0.2"}, Searches: []string{"corp.example"}, Options: []string{"ndots:3", "edns0"}}) {
		t.Fatalf("ParseResolvConf: %+v", *host)
	}
	opts := DNSOptions{ClusterDNS: []string{"10.96.0.10"}, ClusterDomain: "cluster.local", Host: host}
	clusterSearch := []string{"ns.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example"}
	tests := []struct {
		name   string
		spec   corev1.PodSpec
		opts   *DNSOptions
		want   runtime.DNSConfig
		events []string
	}{
		{name: "cluster first", spec: corev1.PodSpec{DNSPolicy: corev1.DNSClusterFirst},
			want: runtime.DNSConfig{Servers: []string{"10.96.0.10"}, Searches: clusterSearch, Options: []string{"ndots:5"}}},
		{name: "cluster first on host network is default", spec: corev1.PodSpec{DNSPolicy: corev1.DNSClusterFirst, HostNetwork: true},
			want: *host},
		{name: "cluster first with host net", spec: corev1.PodSpec{DNSPolicy: corev1.DNSClusterFirstWithHostNet, HostNetwork: true},
			want: runtime.DNSConfig{Servers: []string{"10.96.0.10"}, Searches: clusterSearch, Options: []string{"ndots:5"}}},
		{name: "default", spec: corev1.PodSpec{DNSPolicy: corev1.DNSDefault}, want: *host},
		{name: "none with config", spec: corev1.PodSpec{DNSPolicy: corev1.DNSNone, DNSConfig: &corev1.PodDNSConfig{
			Nameservers: []string{"1.1.1.1"}, Searches: []string{"a.example"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("1")}},
		}}, want: runtime.DNSConfig{Servers: []string{"1.1.1.1"}, Searches: []string{"a.example"}, Options: []string{"ndots:1"}}},
		{name: "cluster first plus config merges", spec: corev1.PodSpec{DNSPolicy: corev1.DNSClusterFirst, DNSConfig: &corev1.PodDNSConfig{
			Nameservers: []string{"10.96.0.10", "8.8.8.8"}, Searches: []string{"svc.cluster.local", "x.example"},
			Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}, {Name: "edns0"}},
		}}, want: runtime.DNSConfig{Servers: []string{"10.96.0.10", "8.8.8.8"}, Searches: append(clusterSearch, "x.example"), Options: []string{"edns0", "ndots:2"}}},
		{name: "missing cluster DNS falls back", spec: corev1.PodSpec{DNSPolicy: corev1.DNSClusterFirst},
			opts: &DNSOptions{ClusterDomain: "cluster.local", Host: host}, want: *host,
			events: []string{`MissingClusterDNS: pod: "p_ns(u)". kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.`}},
		{name: "no host resolv.conf", spec: corev1.PodSpec{DNSPolicy: corev1.DNSDefault},
			opts: &DNSOptions{HostIPs: []string{"192.168.0.5", "fd00::5"}}, want: runtime.DNSConfig{Servers: []string{"127.0.0.1", "::1"}, Searches: []string{"."}}},
		{name: "too many nameservers", spec: corev1.PodSpec{DNSPolicy: corev1.DNSNone, DNSConfig: &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"}}},
			want:   runtime.DNSConfig{Servers: []string{"1.1.1.1", "2.2.2.2", "3.3.3.3"}, Options: []string{}},
			events: []string{"DNSConfigForming: Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: 1.1.1.1 2.2.2.2 3.3.3.3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := opts
			if tc.opts != nil {
				o = *tc.opts
			}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u"}, Spec: tc.spec}
			got, events := DNS(pod, o)
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got  %#v\nwant %#v", *got, tc.want)
			}
			var evs []string
			for _, e := range events {
				evs = append(evs, e.Reason+": "+e.Message)
			}
			if !reflect.DeepEqual(evs, tc.events) {
				t.Errorf("events %q, want %q", evs, tc.events)
			}
		})
	}
}

func TestFitSearches(t *testing.T) {
	var many []string
	for i := 0; i < 40; i++ {
		many = append(many, strings.Repeat("d", 60)+".example")
	}
	got, cut := fitSearches(many)
	if !cut || len(got) > 32 || len(strings.Join(got, " ")) > 2048 {
		t.Fatalf("cut=%v len=%d chars=%d", cut, len(got), len(strings.Join(got, " ")))
	}
	if got, cut := fitSearches([]string{"a", strings.Repeat("x", 254), "b"}); !cut || !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("long domain: %v %v", got, cut)
	}
}
