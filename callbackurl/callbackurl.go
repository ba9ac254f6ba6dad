// Package callbackurl decides which status-callback destinations smsq may
// call: producers choose callback URLs, and a URL aimed at loopback, a
// private network or a cloud metadata address would let them make smsq's
// workers reach inside its own network (SSRF). Acceptance (tasks, config)
// checks the URL; the callback client (events) checks the address it dials.
package callbackurl

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// ErrNonPublic is matched (errors.Is) by the refusal of a callback
// address that is not public: loopback, private, link-local, unspecified,
// multicast or otherwise reserved.
var ErrNonPublic = errors.New("not a public address")

// Check says what is wrong with a status callback URL, or nil.
// It must be an absolute http(s) URL; unless allowPrivate, its host must
// not be "localhost" (or a name under it) or a literal non-public IP (see
// PublicAddr). Host names are not resolved here: the status callback
// client checks the address it actually dials. The error never holds the
// URL (its query may carry the receiver's token).
func Check(raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an absolute http(s) URL")
	}
	if allowPrivate {
		return nil
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("host localhost is %w (api.allow_private_callbacks is off)", ErrNonPublic)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !PublicAddr(ip) {
			return fmt.Errorf("host %s is %w (api.allow_private_callbacks is off)", ip, ErrNonPublic)
		}
		return nil
	}
	if numericHost(host) {
		// 127.1, 0x7f000001, 2130706433: resolvers may read these as IPv4.
		return errors.New("write an IP address host in dotted-decimal form, or use a DNS name")
	}
	return nil
}

// numericHost reports whether every label of host is a decimal or 0x
// number, i.e. a shorthand IPv4 form some resolvers accept.
func numericHost(host string) bool {
	for label := range strings.SplitSeq(host, ".") {
		digits := strings.TrimPrefix(label, "0x")
		if digits == "" || strings.Trim(digits, "0123456789abcdef") != "" ||
			(digits == label && strings.Trim(label, "0123456789") != "") {
			return false
		}
	}
	return true
}

// reserved are ranges netip's predicates do not cover that status
// callbacks must not reach: "this network", shared address space (carrier
// NAT, some clouds' metadata services), IETF protocol assignments,
// benchmarking, the reserved class E and broadcast, and IPv6 site-local.
var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("fec0::/10"),
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
}

// nat64 is the well-known NAT64 prefix: its addresses reach the IPv4
// address in their last four bytes.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// PublicAddr reports whether ip is an address a status callback may be
// sent to: not loopback, private, link-local, unspecified, multicast or
// reserved. IPv4-mapped IPv6 addresses are judged as the IPv4 they carry.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsMulticast() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	ip = ip.WithZone("")
	if nat64.Contains(ip) {
		b := ip.As16()
		return PublicAddr(netip.AddrFrom4([4]byte(b[12:])))
	}
	for _, p := range reserved {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}
