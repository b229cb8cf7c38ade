// Package sandbox launches one tool process and contains it.
//
// A Launcher runs each Spec as an argv vector, never through a shell, with
// exactly the environment and working folder given, in a process group of
// its own, and with the call's arguments written to standard input. It
// reads standard output up to a cap and keeps a prefix and a suffix of
// standard error, both concurrently, waiting for the exit in the network
// poller rather than in a blocked thread, and only then reaps the process. On a
// timeout or a cancelled context it sends SIGTERM to everything the call
// started and SIGKILL after a grace period, and it returns within the
// timeout plus twice the grace period even when a grandchild holds the
// pipes open or a process cannot be killed.
//
// On Linux every call runs in a pids cgroup of its own (cgroup v2 when the
// pids controller is available there, else cgroup v1), which bounds how
// many processes and threads the call may have, so a fork bomb stops at
// the limit, and which lists every process of the call, so none outlives
// it: when the tool exits, whatever it left behind is killed and reaped.
// Where no cgroup can be had, the tool starts as the first process of a
// pid namespace of its own, whose other processes the kernel kills when it
// exits, with RLIMIT_NPROC bounding them; an ordinary user's program gets
// the right to start pid namespaces from EnterUserNamespace. Where
// neither can be had, Launch refuses with an *UncontainedError unless
// Options.AllowUncontained is set; then only the process group is killed.
//
// What is the whole process's belongs to its Supervisor (Supervise), made
// once before anything starts: it makes the process a child subreaper, so
// that orphans of tools are reaped rather than left as zombies, and reaps
// only those, so other children of the program (started in its own
// session) are left to their owners' Wait.
package sandbox
