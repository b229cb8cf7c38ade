// Package asuser runs a test's programs as an ordinary user, from copies
// that user can run: for the tests that check, as root, what agentcli
// does for users who are not (CI runs as root; most users do not).
package asuser
