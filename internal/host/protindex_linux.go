package host

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watcher follows changes to folders' entries with inotify.
type watcher struct {
	fd    int
	byWD  map[int32]string
	byDir map[string]int32
	buf   []byte
}

func newWatcher() (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &watcher{fd: fd, byWD: map[int32]string{}, byDir: map[string]int32{}, buf: make([]byte, 64<<10)}, nil
}

const watchMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
	unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR | unix.IN_DONT_FOLLOW

// add watches dir (again: the kernel keeps one watch per folder).
func (w *watcher) add(dir string) error {
	wd, err := unix.InotifyAddWatch(w.fd, dir, watchMask)
	if err != nil {
		return err
	}
	w.byWD[int32(wd)] = dir
	w.byDir[dir] = int32(wd)
	return nil
}

// forget stops watching dir, which is gone from the index.
func (w *watcher) forget(dir string) {
	if wd, ok := w.byDir[dir]; ok {
		unix.InotifyRmWatch(w.fd, uint32(wd))
		delete(w.byDir, dir)
		delete(w.byWD, wd)
	}
}

// drain reads the events queued so far (the kernel queues an event as
// the change is made, before the call that made it returns): the folders
// whose entries changed; lost when events were dropped or a folder was
// moved, so that the index must be read again.
func (w *watcher) drain() (dirty []string, lost bool) {
	for {
		n, err := unix.Read(w.fd, w.buf)
		if errors.Is(err, unix.EAGAIN) || n <= 0 {
			return dirty, lost
		}
		if err != nil {
			return dirty, true
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&w.buf[off]))
			off += unix.SizeofInotifyEvent + int(ev.Len)
			switch {
			case ev.Mask&unix.IN_Q_OVERFLOW != 0,
				ev.Mask&unix.IN_MOVE_SELF != 0,
				ev.Mask&unix.IN_ISDIR != 0 && ev.Mask&(unix.IN_MOVED_FROM|unix.IN_MOVED_TO) != 0:
				lost = true
			case ev.Mask&unix.IN_IGNORED != 0:
				if dir, ok := w.byWD[ev.Wd]; ok {
					delete(w.byWD, ev.Wd)
					if w.byDir[dir] == ev.Wd {
						delete(w.byDir, dir)
					}
				}
			default:
				if dir, ok := w.byWD[ev.Wd]; ok {
					dirty = append(dirty, dir)
				}
			}
		}
	}
}

func (w *watcher) close() { unix.Close(w.fd) }
