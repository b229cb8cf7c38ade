package sandbox

import (
	"sync"
)

// Supervisor is what running tools asks of the whole process, done once:
// descriptors the process inherited are marked close-on-exec (none may
// reach a tool), the process becomes a child subreaper on Linux (orphans
// of tools come to it rather than to init), and zombie children are
// reaped. A program has one, made by Supervise before it starts anything
// (agentcli's main); every Launcher of the process shares it.
//
// Reaping leaves alone what is not the tools': a zombie is reaped only
// when no Launcher started it (its own waiter reaps those) and it is not
// in the process's own session. Tools start in sessions of their own,
// and what they leave behind stays in theirs (or in one it made); a
// child the program starts by other means (a plugin) stays in the
// program's session, so its owner's Wait still gets its exit status. A
// resident tool's process may stay in the program's session (see
// sameSession), but only in a pid namespace of its own, from which
// nothing it starts can come to the program as an orphan.
type Supervisor struct {
	// starting is shared by starts and taken alone by reaping, so a
	// child is never reaped between its fork and its registration.
	starting sync.RWMutex
	mu       sync.Mutex
	children map[int]bool // started by a Launcher, until waited for
	session  int          // this process's session
	// err says why the process could not become a subreaper: its tools
	// cannot be contained then.
	err error
}

var (
	superOnce sync.Once
	super     *Supervisor
)

// Supervise sets the process up for running tools, on its first call,
// and returns its Supervisor.
func Supervise() *Supervisor {
	superOnce.Do(func() {
		closeInheritedOnExec()
		super = &Supervisor{children: make(map[int]bool), session: ownSession()}
		super.err = becomeSubreaper()
	})
	return super
}

// started registers pid, a child a Launcher started and will wait for.
// The caller holds s.starting for reading.
func (s *Supervisor) started(pid int) {
	s.mu.Lock()
	s.children[pid] = true
	s.mu.Unlock()
}

// waited unregisters pid once its Launcher has waited for it.
func (s *Supervisor) waited(pid int) {
	s.mu.Lock()
	delete(s.children, pid)
	s.mu.Unlock()
}

// reapOrphans reaps the zombie children of the process that are the
// tools' (see Supervisor), and returns their pids.
func (s *Supervisor) reapOrphans() []int {
	s.starting.Lock()
	defer s.starting.Unlock()
	var reaped []int
	for _, pid := range zombieChildren() {
		s.mu.Lock()
		ours := s.children[pid]
		s.mu.Unlock()
		if !ours && sessionOf(pid) != s.session && reap(pid) {
			reaped = append(reaped, pid)
		}
	}
	return reaped
}
