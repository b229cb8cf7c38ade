//go:build !linux

package host

import (
	"errors"
	"net"
)

// dial: resident tools run where the sandbox does, on Linux.
func (x *residentRunner) dial(net.Addr) (net.Conn, error) {
	return nil, errors.New("resident tools need Linux")
}
