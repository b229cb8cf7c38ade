package mcpserve

import (
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/server"
)

// sessions binds each MCP session to the identity that created it (a
// token's or JWT's name, or without auth the client's address): only that
// identity may use the session, answer its elicitations (approvals) or
// end it. Session ids are 128 random bits that the server issued; any
// other id is unknown. The library asks it for a manager per request
// (ResolveSessionIdManager), which carries the request's identity.
type sessions struct {
	mu    sync.Mutex
	owner map[string]*owner    // live session id → its identity
	ended map[string]time.Time // ended session ids, kept for an hour
}

type owner struct {
	who  string
	used time.Time
}

func newSessions() *sessions {
	return &sessions{owner: map[string]*owner{}, ended: map[string]time.Time{}}
}

// sessionPrefix starts every session id the server issues.
const sessionPrefix = "toolhost-"

var (
	errSessionUnknown = errors.New("unknown session")
	errSessionOther   = errors.New("the session belongs to another client")
)

// check says whether who may use session id: ended reports a session that
// has ended; err one that is unknown or another identity's.
func (s *sessions) check(id, who string) (ended bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ended[id]; ok {
		return true, nil
	}
	o, ok := s.owner[id]
	switch {
	case !ok:
		return false, errSessionUnknown
	case o.who != who:
		return false, errSessionOther
	}
	o.used = time.Now()
	return false, nil
}

func (s *sessions) ResolveSessionIdManager(r *http.Request) server.SessionIdManager {
	if r == nil {
		// The library's own upkeep (the idle sweeper, shutdown).
		return &boundSessions{s: s, internal: true}
	}
	return &boundSessions{s: s, who: identity(r.Context())}
}

// boundSessions is the session manager of one request's identity.
type boundSessions struct {
	s        *sessions
	who      string
	internal bool
}

func (b *boundSessions) Generate() string {
	id := sessionPrefix + strings.ToLower(rand.Text())
	s := b.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	// Sessions idle past SessionIdleTTL end (clients that never said
	// goodbye); ended ones are forgotten after an hour.
	for old, o := range s.owner {
		if now.Sub(o.used) > SessionIdleTTL {
			delete(s.owner, old)
			s.ended[old] = now
		}
	}
	for old, at := range s.ended {
		if now.Sub(at) > time.Hour {
			delete(s.ended, old)
		}
	}
	s.owner[id] = &owner{who: b.who, used: now}
	return id
}

func (b *boundSessions) Validate(id string) (bool, error) {
	if b.internal {
		return false, nil
	}
	return b.s.check(id, b.who)
}

func (b *boundSessions) Terminate(id string) (bool, error) {
	s := b.s
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.owner[id]
	if !ok {
		return false, nil // unknown or ended already
	}
	if !b.internal && o.who != b.who {
		return true, nil
	}
	delete(s.owner, id)
	s.ended[id] = time.Now()
	return false, nil
}
