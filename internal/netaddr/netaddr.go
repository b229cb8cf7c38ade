// Package netaddr reads listen addresses.
package netaddr

import (
	"net"
	"net/netip"
	"strings"
)

// IsLoopback reports whether a listen address is on loopback only: its
// host is 127.0.0.0/8, ::1 or localhost. An address without a port is
// not.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.IsLoopback()
}
