// Package realowner tells who really owns a file when the process runs in
// a user namespace that maps only its own user (as agentcli makes for an
// ordinary user; see sandbox.EnterUserNamespace). There, files of every
// other user, root included, show the kernel's overflow user (65534): the
// trust checks of the manifest loader, which accept root and the current
// user, could not tell root from anyone else. The process outside the
// namespace, which started this one and waits for it, serves the answer:
// it is sent the open file and stats it where user ids are real.
package realowner
