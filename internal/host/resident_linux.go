package host

import (
	"fmt"
	"net"
	"strconv"

	"golang.org/x/sys/unix"
)

// dial connects to the plugin's socket: a socket, not a link, made by the
// plugin's user. The folder is the plugin's, so the socket is opened
// first and connected to through that descriptor: it cannot be swapped
// in between.
func (x *residentRunner) dial(addr net.Addr) (net.Conn, error) {
	fd, err := unix.Open(addr.String(), unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("the plugin's socket: %w", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("the plugin's socket: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return nil, fmt.Errorf("the plugin's socket %s is not a socket", addr)
	}
	if int(st.Uid) != x.proc.UID() {
		return nil, fmt.Errorf("the plugin's socket %s belongs to user %d, not the plugin's (%d)", addr, st.Uid, x.proc.UID())
	}
	c, err := net.Dial("unix", "/proc/self/fd/"+strconv.Itoa(fd))
	if err != nil {
		return nil, fmt.Errorf("connect to the plugin: %w", err)
	}
	return c, nil
}
