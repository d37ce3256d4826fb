package shield

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/arqonbus/arqonbus/internal/config"
)

// MirrorRule is one ARQON_SHIELD_MIRROR_RULES entry (SHIELD.md §12.1). The
// configuration package owns the one parser and matcher
// (config.ParseMirrorRules, config.MirrorRule.Matches); Shield only samples.
type MirrorRule = config.MirrorRule

// mirrorPercent returns the percent of the first matching rule, or -1.
func mirrorPercent(rules []MirrorRule, subject string) float64 {
	if p, ok := config.MirrorPercent(rules, subject); ok {
		return p
	}
	return -1
}

// SampleUnit is u(conn_id) of SHIELD.md §12.2: the first 8 bytes of
// SHA-256(conn_id) as a big-endian uint64, shifted right by 11, over 2^53.
func SampleUnit(connID string) float64 {
	sum := sha256.Sum256([]byte(connID))
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
}

// Sampled reports whether a connection with unit u is mirrored at percent.
func Sampled(u, percent float64) bool {
	if percent <= 0 {
		return false
	}
	if percent >= 100 {
		return true
	}
	return u < percent/100
}
