package callbackurl_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/smsq/smsq/callbackurl"
)

func TestPublicAddr(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"8.8.8.8": true, "1.1.1.1": true, "2606:4700::1111": true, "100.63.255.255": true, "100.128.0.0": true,
		"127.0.0.1": false, "10.0.0.1": false, "172.31.255.255": false, "192.168.0.1": false, "169.254.1.1": false,
		"0.0.0.0": false, "0.1.2.3": false, "100.64.0.1": false, "198.18.0.1": false, "255.255.255.255": false,
		"240.0.0.1": false, "239.1.1.1": false, "::1": false, "::": false, "fc00::1": false, "fe80::1": false,
		"fec0::1": false, "ff05::1": false, "::ffff:10.0.0.1": false, "::ffff:8.8.8.8": true,
		"64:ff9b::808:808": true, "64:ff9b::7f00:1": false, "64:ff9b:1::1": false,
	} {
		require.Equal(t, want, callbackurl.PublicAddr(netip.MustParseAddr(s)), s)
	}
	require.False(t, callbackurl.PublicAddr(netip.Addr{}), "the zero address")
}
