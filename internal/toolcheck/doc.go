// Package toolcheck checks a tool against the tool contract the way
// agentcli tool test does: it runs the tool through the host (the same
// launch, environment, user, sandbox level and limits as any call) with
// inputs made from its input schema, reads what the tool did before any
// of the host's hygiene hides it, and reports each problem once, with a
// stable id, the input that showed it and what the tool did.
package toolcheck
