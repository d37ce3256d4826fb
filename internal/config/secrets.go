package config

import "strings"

// knownDefaultSecrets is the one list of SHIELD.md §3.4, used by Shield's
// configuration validation and by preflight. Entries are lower case.
var knownDefaultSecrets = []string{
	"arqon-dev-secret", "arqon-shield-test-secret", "changeme", "change-me", "secret",
	"jwt-secret", "jwt_secret", "your-256-bit-secret", "your-secret-key", "supersecret",
	"test-secret", "dev-secret", "password",
}

// KnownDefaultSecrets returns a copy of the known default secret list.
func KnownDefaultSecrets() []string {
	return append([]string(nil), knownDefaultSecrets...)
}

// IsKnownDefaultSecret reports whether s, trimmed and compared
// case-insensitively, is a known default secret (SHIELD.md §3.4).
func IsKnownDefaultSecret(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, d := range knownDefaultSecrets {
		if s == d {
			return true
		}
	}
	return false
}
