package celexpr

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// IPType and CIDRType are upstream's net.IP and net.CIDR CEL types.
var (
	IPType   = cel.OpaqueType("net.IP")
	CIDRType = cel.OpaqueType("net.CIDR")
)

// k8sIP is upstream's ip and cidr libraries: ip(s), isIP(s),
// ip.isCanonical(s), family, isUnspecified, isLoopback,
// isLinkLocalMulticast, isLinkLocalUnicast, isGlobalUnicast; cidr(s),
// isCIDR(s), containsIP, containsCIDR, ip, masked, prefixLength; and
// string() of both. IPv4-mapped IPv6 addresses and zones are refused, as
// upstream.
type k8sIP struct{}

func (k8sIP) LibraryName() string { return "kubernetes.net" }

func parseIP(s string) (netip.Addr, error) {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("IP Address %q parse error during conversion from string: %v", s, err)
	}
	if addr.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("IP address %q with zone value is not allowed", s)
	}
	if addr.Is4In6() {
		return netip.Addr{}, fmt.Errorf("IPv4-mapped IPv6 address %q is not allowed", s)
	}
	return addr, nil
}

func parseCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("network address parse error during conversion from string: %v", err)
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("IPv4-mapped IPv6 address %q is not allowed", s)
	}
	return p, nil
}

func ipVal(a netip.Addr) ref.Val {
	return opaque[netip.Addr]{v: a, typ: IPType,
		equal: func(x, y netip.Addr) bool { return x == y },
		str:   func(x netip.Addr) string { return x.String() }}
}

func cidrVal(p netip.Prefix) ref.Val {
	return opaque[netip.Prefix]{v: p, typ: CIDRType,
		equal: func(x, y netip.Prefix) bool { return x == y },
		str:   func(x netip.Prefix) string { return x.String() }}
}

func (k8sIP) CompileOptions() []cel.EnvOption {
	ipPred := func(id string, f func(netip.Addr) bool) cel.FunctionOpt {
		return cel.MemberOverload(id, []*cel.Type{IPType}, cel.BoolType, cel.UnaryBinding(func(v ref.Val) ref.Val {
			a, ok := unwrap[netip.Addr](v)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			return types.Bool(f(a))
		}))
	}
	fromString := func(id string, result *cel.Type, f func(string) ref.Val) cel.FunctionOpt {
		return cel.Overload(id, []*cel.Type{cel.StringType}, result, cel.UnaryBinding(func(v ref.Val) ref.Val {
			s, ok := v.(types.String)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			return f(string(s))
		}))
	}
	cidrUnary := func(id string, result *cel.Type, f func(netip.Prefix) ref.Val) cel.FunctionOpt {
		return cel.MemberOverload(id, []*cel.Type{CIDRType}, result, cel.UnaryBinding(func(v ref.Val) ref.Val {
			p, ok := unwrap[netip.Prefix](v)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			return f(p)
		}))
	}
	containsIP := func(p netip.Prefix, a netip.Addr) ref.Val { return types.Bool(p.Contains(a)) }
	containsCIDR := func(p, q netip.Prefix) ref.Val {
		return types.Bool(q.Bits() >= p.Bits() && p.Contains(q.Addr()))
	}
	return []cel.EnvOption{
		cel.Function("ip", fromString("string_to_ip", IPType, func(s string) ref.Val {
			a, err := parseIP(s)
			if err != nil {
				return errVal("%s", err.Error())
			}
			return ipVal(a)
		})),
		cel.Function("isIP", fromString("is_ip", cel.BoolType, func(s string) ref.Val {
			_, err := parseIP(s)
			return types.Bool(err == nil)
		})),
		cel.Function("ip.isCanonical", fromString("ip_is_canonical", cel.BoolType, func(s string) ref.Val {
			a, err := parseIP(s)
			if err != nil {
				return errVal("%s", err.Error())
			}
			return types.Bool(a.String() == s)
		})),
		cel.Function("family", cel.MemberOverload("ip_family", []*cel.Type{IPType}, cel.IntType, cel.UnaryBinding(func(v ref.Val) ref.Val {
			a, ok := unwrap[netip.Addr](v)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			if a.Is4() {
				return types.Int(4)
			}
			return types.Int(6)
		}))),
		cel.Function("isUnspecified", ipPred("ip_is_unspecified", netip.Addr.IsUnspecified)),
		cel.Function("isLoopback", ipPred("ip_is_loopback", netip.Addr.IsLoopback)),
		cel.Function("isLinkLocalMulticast", ipPred("ip_is_link_local_multicast", netip.Addr.IsLinkLocalMulticast)),
		cel.Function("isLinkLocalUnicast", ipPred("ip_is_link_local_unicast", netip.Addr.IsLinkLocalUnicast)),
		cel.Function("isGlobalUnicast", ipPred("ip_is_global_unicast", netip.Addr.IsGlobalUnicast)),
		cel.Function("cidr", fromString("string_to_cidr", CIDRType, func(s string) ref.Val {
			p, err := parseCIDR(s)
			if err != nil {
				return errVal("%s", err.Error())
			}
			return cidrVal(p)
		})),
		cel.Function("isCIDR", fromString("is_cidr", cel.BoolType, func(s string) ref.Val {
			_, err := parseCIDR(s)
			return types.Bool(err == nil)
		})),
		cel.Function("containsIP",
			cel.MemberOverload("cidr_contains_ip_ip", []*cel.Type{CIDRType, IPType}, cel.BoolType, cel.BinaryBinding(func(l, r ref.Val) ref.Val {
				p, ok1 := unwrap[netip.Prefix](l)
				a, ok2 := unwrap[netip.Addr](r)
				if !ok1 || !ok2 {
					return types.MaybeNoSuchOverloadErr(r)
				}
				return containsIP(p, a)
			})),
			cel.MemberOverload("cidr_contains_ip_string", []*cel.Type{CIDRType, cel.StringType}, cel.BoolType, cel.BinaryBinding(func(l, r ref.Val) ref.Val {
				p, ok1 := unwrap[netip.Prefix](l)
				s, ok2 := r.(types.String)
				if !ok1 || !ok2 {
					return types.MaybeNoSuchOverloadErr(r)
				}
				a, err := parseIP(string(s))
				if err != nil {
					return errVal("%s", err.Error())
				}
				return containsIP(p, a)
			}))),
		cel.Function("containsCIDR",
			cel.MemberOverload("cidr_contains_cidr", []*cel.Type{CIDRType, CIDRType}, cel.BoolType, cel.BinaryBinding(func(l, r ref.Val) ref.Val {
				p, ok1 := unwrap[netip.Prefix](l)
				q, ok2 := unwrap[netip.Prefix](r)
				if !ok1 || !ok2 {
					return types.MaybeNoSuchOverloadErr(r)
				}
				return containsCIDR(p, q)
			})),
			cel.MemberOverload("cidr_contains_cidr_string", []*cel.Type{CIDRType, cel.StringType}, cel.BoolType, cel.BinaryBinding(func(l, r ref.Val) ref.Val {
				p, ok1 := unwrap[netip.Prefix](l)
				s, ok2 := r.(types.String)
				if !ok1 || !ok2 {
					return types.MaybeNoSuchOverloadErr(r)
				}
				q, err := parseCIDR(string(s))
				if err != nil {
					return errVal("%s", err.Error())
				}
				return containsCIDR(p, q)
			}))),
		cel.Function("ip", cidrUnary("cidr_ip", IPType, func(p netip.Prefix) ref.Val { return ipVal(p.Addr()) })),
		cel.Function("masked", cidrUnary("cidr_masked", CIDRType, func(p netip.Prefix) ref.Val { return cidrVal(p.Masked()) })),
		cel.Function("prefixLength", cidrUnary("cidr_prefix_length", cel.IntType, func(p netip.Prefix) ref.Val { return types.Int(p.Bits()) })),
		cel.Function("string",
			cel.Overload("ip_to_string", []*cel.Type{IPType}, cel.StringType, cel.UnaryBinding(stringOf)),
			cel.Overload("cidr_to_string", []*cel.Type{CIDRType}, cel.StringType, cel.UnaryBinding(stringOf)),
			cel.Overload("quantity_to_string", []*cel.Type{QuantityType}, cel.StringType, cel.UnaryBinding(stringOf)),
			cel.Overload("url_to_string", []*cel.Type{URLType}, cel.StringType, cel.UnaryBinding(stringOf))),
	}
}

func (k8sIP) ProgramOptions() []cel.ProgramOption { return nil }

// stringOf is string() of an opaque value.
func stringOf(v ref.Val) ref.Val {
	out := v.ConvertToType(types.StringType)
	if s, ok := out.(types.String); ok {
		return types.String(strings.Clone(string(s)))
	}
	return out
}
