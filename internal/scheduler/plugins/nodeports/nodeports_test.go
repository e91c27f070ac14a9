package nodeports

import (
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestConflict(t *testing.T) {
	p := func(ip string, port int32, proto v1.Protocol) v1.ContainerPort {
		return v1.ContainerPort{HostIP: ip, HostPort: port, Protocol: proto}
	}
	tests := []struct {
		name string
		a, b v1.ContainerPort
		want bool
	}{
		{"same port, default protocol and IP", p("", 80, ""), p("", 80, v1.ProtocolTCP), true},
		{"different port", p("", 80, ""), p("", 81, ""), false},
		{"different protocol", p("", 53, v1.ProtocolUDP), p("", 53, v1.ProtocolTCP), false},
		{"specific IPs differ", p("10.0.0.1", 80, ""), p("10.0.0.2", 80, ""), false},
		{"wildcard against specific", p("0.0.0.0", 80, ""), p("10.0.0.2", 80, ""), true},
		{"same specific IP", p("10.0.0.1", 80, ""), p("10.0.0.1", 80, ""), true},
	}
	for _, tt := range tests {
		if got := Conflict(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: got %v", tt.name, got)
		}
	}
}
