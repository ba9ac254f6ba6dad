package events

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/smsq/smsq/callbackurl"
)

// Resolver finds the addresses of a host name; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// dialer connects to a receiver: it resolves the host itself and dials
// the addresses one by one, so that net's Control hook (refuseNonPublic,
// unless private receivers are allowed) sees each address actually
// connected to. Checking there, not before resolving, is what defeats DNS
// rebinding: a name that answers a public address to a check and a
// private one to the dial is judged by the second.
type dialer struct {
	resolver Resolver
	net      net.Dialer
}

func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("bad port %q", portStr)
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = d.resolver.LookupNetIP(ctx, "ip", host); err != nil {
		return nil, err
	}
	var errs []error
	for _, ip := range ips {
		c, err := d.net.DialContext(ctx, network, netip.AddrPortFrom(ip, uint16(port)).String())
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%s has no address", host)
	}
	return nil, errors.Join(errs...)
}

// refuseNonPublic is a net.Dialer Control hook: it runs after the address
// is chosen and before the connection is attempted.
func refuseNonPublic(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: cannot judge the address: %w", address, callbackurl.ErrNonPublic)
	}
	if !callbackurl.PublicAddr(ap.Addr()) {
		return fmt.Errorf("dial %s refused: %w (api.allow_private_callbacks is off)", ap.Addr(), callbackurl.ErrNonPublic)
	}
	return nil
}
