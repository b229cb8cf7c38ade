package host

import (
	"regexp"
	"slices"
	"strings"
)

// secretWord matches a variable name with a secret-looking word between
// underscores: OPENAI_API_KEY, GITHUB_TOKEN, DB_PASSWORD, NPM_AUTH.
var secretWord = regexp.MustCompile(`(^|_)(KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|PAT|CREDENTIALS?|AUTH|COOKIE|SESSION)(_|$)`)

// secretPart matches secret-looking text anywhere in a name: MYAPIKEY,
// CLIENTSECRET, DBPASSWORD.
var secretPart = regexp.MustCompile(`SECRET|PASSWORD|PASSWD|TOKEN|APIKEY|CREDENTIAL|PRIVATE`)

// LooksSecret reports whether an environment variable's name suggests its
// value is a secret. Names are compared in upper case.
func LooksSecret(name string) bool {
	n := strings.ToUpper(name)
	return secretWord.MatchString(n) || secretPart.MatchString(n)
}

// minSecretLen is the shortest value redacted: replacing every "1" or "ab"
// in all output would destroy it while protecting nothing.
const minSecretLen = 4

// newRedactor returns a redactor for the given secret values (short and
// empty ones skipped) and patterns.
func newRedactor(values []string, patterns []*regexp.Regexp) *redactor {
	var vs []string
	for _, v := range values {
		if len(v) >= minSecretLen && !slices.Contains(vs, v) {
			vs = append(vs, v)
		}
	}
	// Longest first, so a secret that contains another is replaced whole.
	slices.SortFunc(vs, func(a, b string) int { return len(b) - len(a) })
	return &redactor{values: vs, patterns: patterns}
}
