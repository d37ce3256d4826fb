package config

import (
	"strings"
	"testing"
)

// SHIELD.md §3.4: the list holds at least these values and is compared
// trimmed and case-insensitively.
func TestKnownDefaultSecrets(t *testing.T) {
	required := []string{"arqon-dev-secret", "arqon-shield-test-secret", "changeme", "change-me", "secret",
		"jwt-secret", "jwt_secret", "your-256-bit-secret", "your-secret-key", "supersecret",
		"test-secret", "dev-secret", "password"}
	for _, s := range required {
		if !IsKnownDefaultSecret(s) || !IsKnownDefaultSecret(" \t"+strings.ToUpper(s)+"\n") {
			t.Errorf("%q is not refused", s)
		}
	}
	list := KnownDefaultSecrets()
	if len(list) < len(required) {
		t.Errorf("list has %d entries", len(list))
	}
	list[0] = "mutated"
	if !IsKnownDefaultSecret(required[0]) {
		t.Error("KnownDefaultSecrets must return a copy")
	}
	for _, s := range []string{"", "arqon-dev-secret-2", "0123456789abcdef0123456789abcdef"} {
		if IsKnownDefaultSecret(s) {
			t.Errorf("%q refused", s)
		}
	}
}
