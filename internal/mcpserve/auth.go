package mcpserve

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinTokenLen is the shortest bearer token accepted: shorter ones can be
// guessed.
const MinTokenLen = 16

// Token is a bearer token and the id recorded for its caller.
type Token struct {
	ID     string
	Secret string
}

// LoadTokens reads bearer tokens from a file: one per line, "ID TOKEN" or
// just "TOKEN" (its id is then the start of its SHA-256); blank lines and
// lines starting with # are skipped. The file must not be readable by
// others.
// LocalToken returns the token in path, first making one there when the
// file does not exist (a random 256-bit secret with the ID "local", in a
// file of mode 0600 in a folder of mode 0700): what "agentcli mcp -http"
// uses when no auth is configured, so that even on loopback no other
// process of the machine can call tools without it. created reports that
// the file was made now.
func LocalToken(path string) (tokens []Token, created bool, err error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, false, err
		}
		var b [32]byte
		rand.Read(b[:])
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, false, err
		}
		_, err = fmt.Fprintf(f, "# made by agentcli mcp -http: send it as \"Authorization: Bearer TOKEN\" (the second word)\nlocal %s\n", hex.EncodeToString(b[:]))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, false, err
		}
		created = true
	}
	tokens, err = LoadTokens(path)
	return tokens, created, err
}

func LoadTokens(path string) ([]Token, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable or writable by others (mode %04o); fix: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	var tokens []Token
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		var t Token
		switch len(fields) {
		case 1:
			sum := sha256.Sum256([]byte(fields[0]))
			t = Token{ID: fmt.Sprintf("token-%x", sum[:4]), Secret: fields[0]}
		case 2:
			t = Token{ID: fields[0], Secret: fields[1]}
		default:
			return nil, fmt.Errorf("%s:%d: want \"ID TOKEN\" or \"TOKEN\"", path, n)
		}
		if len(t.Secret) < MinTokenLen {
			return nil, fmt.Errorf("%s:%d: token %q is shorter than %d characters", path, n, t.ID, MinTokenLen)
		}
		tokens = append(tokens, t)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("%s holds no token", path)
	}
	return tokens, nil
}

// JWTConfig checks JSON Web Tokens: HS256 with Secret, or RS256 with the
// PEM public key in PublicKey; the issuer and audience must match, and the
// token must carry an expiry.
type JWTConfig struct {
	Secret    []byte
	PublicKey []byte
	Issuer    string
	Audience  string
}

// authenticator checks a request's credentials.
type authenticator struct {
	tokens []tokenDigest
	parser *jwt.Parser
	key    any
	method string
}

type tokenDigest struct {
	id  string
	sum [sha256.Size]byte
}

func newAuthenticator(tokens []Token, jc *JWTConfig) (*authenticator, error) {
	a := &authenticator{}
	for _, t := range tokens {
		if len(t.Secret) < MinTokenLen {
			return nil, fmt.Errorf("token %q is shorter than %d characters", t.ID, MinTokenLen)
		}
		a.tokens = append(a.tokens, tokenDigest{id: t.ID, sum: sha256.Sum256([]byte(t.Secret))})
	}
	if jc != nil {
		switch {
		case len(jc.Secret) > 0 && len(jc.PublicKey) > 0:
			return nil, errors.New("JWT: give a secret (HS256) or a public key (RS256), not both")
		case len(jc.Secret) > 0:
			if len(jc.Secret) < 32 {
				return nil, errors.New("JWT: an HS256 secret needs at least 32 bytes")
			}
			a.key, a.method = jc.Secret, "HS256"
		case len(jc.PublicKey) > 0:
			key, err := jwt.ParseRSAPublicKeyFromPEM(jc.PublicKey)
			if err != nil {
				return nil, fmt.Errorf("JWT public key: %w", err)
			}
			a.key, a.method = key, "RS256"
		default:
			return nil, errors.New("JWT: no secret and no public key")
		}
		if jc.Issuer == "" || jc.Audience == "" {
			return nil, errors.New("JWT: the issuer and the audience are required")
		}
		a.parser = jwt.NewParser(jwt.WithValidMethods([]string{a.method}), jwt.WithIssuer(jc.Issuer),
			jwt.WithAudience(jc.Audience), jwt.WithExpirationRequired(), jwt.WithLeeway(30*time.Second))
	}
	return a, nil
}

func (a *authenticator) enabled() bool { return len(a.tokens) > 0 || a.parser != nil }

// check returns the caller's identity for a bearer credential, or an error
// that says what is wrong without revealing anything about the secrets.
func (a *authenticator) check(bearer string) (string, error) {
	if bearer == "" {
		return "", errors.New("missing bearer token")
	}
	// Every token is compared, in constant time, whatever matches: the
	// time taken says nothing about which token or how much of it.
	sum := sha256.Sum256([]byte(bearer))
	match := ""
	for _, t := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			match = t.id
		}
	}
	if match != "" {
		return "token:" + match, nil
	}
	if a.parser != nil && strings.Count(bearer, ".") == 2 {
		claims := jwt.RegisteredClaims{}
		if _, err := a.parser.ParseWithClaims(bearer, &claims, func(*jwt.Token) (any, error) { return a.key, nil }); err != nil {
			return "", fmt.Errorf("invalid token: %w", err)
		}
		if claims.Subject == "" {
			return "", errors.New("invalid token: no subject")
		}
		return "jwt:" + claims.Subject, nil
	}
	return "", errors.New("invalid token")
}

type identityKey struct{}

func withIdentity(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// identity is the authenticated caller of a request ("" if unknown).
func identity(ctx context.Context) string {
	id, _ := ctx.Value(identityKey{}).(string)
	return id
}
