//go:build linux

package realowner

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// Env names the variable that gives the copy inside the namespace the
// descriptor of its end of the service's socket.
const Env = "TOOLHOST_REALOWNER_FD"

// OverflowUID is the user id the kernel shows for users a namespace does
// not map (kernel.overflowuid).
var OverflowUID = sync.OnceValue(func() uint32 {
	b, err := os.ReadFile("/proc/sys/kernel/overflowuid")
	if err != nil {
		return 65534
	}
	n, err := strconv.ParseUint(string(trimNL(b)), 10, 32)
	if err != nil {
		return 65534
	}
	return uint32(n)
})

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// service is this process's connection to the service, read once from
// Env (and removed from the environment); nil when there is none.
var service = sync.OnceValue(func() *client {
	v := os.Getenv(Env)
	if v == "" {
		return nil
	}
	os.Unsetenv(Env)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil
	}
	unix.CloseOnExec(fd) // never a tool's
	return &client{fd: fd}
})

type client struct {
	mu sync.Mutex
	fd int
}

// UID returns the real owner of path, whose owner as this process sees it
// is seen. Only when seen is the overflow user and the service is there is
// the service asked; otherwise seen is the answer.
func UID(path string, seen uint32) (uint32, error) {
	c := service()
	if c == nil || seen != OverflowUID() {
		return seen, nil
	}
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return seen, err
	}
	defer unix.Close(fd)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := unix.Sendmsg(c.fd, []byte{'?'}, unix.UnixRights(fd), nil, 0); err != nil {
		return seen, fmt.Errorf("ask the real owner of %s: %w", path, err)
	}
	var buf [8]byte
	n, err := unix.Read(c.fd, buf[:])
	if err != nil || n != len(buf) {
		return seen, fmt.Errorf("read the real owner of %s: %d bytes, %v", path, n, err)
	}
	if binary.LittleEndian.Uint32(buf[4:]) != 0 {
		return seen, fmt.Errorf("the real owner of %s: stat failed", path)
	}
	return binary.LittleEndian.Uint32(buf[:4]), nil
}

// Pair makes the service's socket: serve is this process's end, for
// Serve; child is the copy's, to pass it as an inherited descriptor.
func Pair() (serve, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	return os.NewFile(uintptr(fds[0]), "realowner"), os.NewFile(uintptr(fds[1]), "realowner-child"), nil
}

// Serve answers requests on conn until the other end closes it: each
// request carries one descriptor, whose owner's user id is the answer
// (with a second word, non-zero when fstat failed).
func Serve(conn *os.File) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	rerr := raw.Control(func(sfd uintptr) {
		buf := make([]byte, 16)
		oob := make([]byte, unix.CmsgSpace(4))
		for {
			n, oobn, _, _, err := unix.Recvmsg(int(sfd), buf, oob, unix.MSG_CMSG_CLOEXEC)
			if err == unix.EINTR {
				continue
			}
			if err != nil || n == 0 {
				serr = err
				return
			}
			var reply [8]byte
			binary.LittleEndian.PutUint32(reply[4:], 1)
			if fds := rights(oob[:oobn]); len(fds) > 0 {
				var st unix.Stat_t
				if unix.Fstat(fds[0], &st) == nil {
					binary.LittleEndian.PutUint32(reply[:4], st.Uid)
					binary.LittleEndian.PutUint32(reply[4:], 0)
				}
				for _, fd := range fds {
					unix.Close(fd)
				}
			}
			if _, err := unix.Write(int(sfd), reply[:]); err != nil {
				serr = err
				return
			}
		}
	})
	return errors.Join(rerr, serr)
}

func rights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if f, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, f...)
		}
	}
	return fds
}
