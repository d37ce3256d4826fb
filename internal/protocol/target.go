package protocol

import "strings"

// TargetStatus is the outcome of ResolveTarget.
type TargetStatus int

const (
	// TargetOK: r and c are a valid room and channel.
	TargetOK TargetStatus = iota
	// TargetNone: neither room nor channel was given (no explicit target).
	TargetNone
	// TargetMissing: only one of room and channel was given.
	TargetMissing
	// TargetInvalid: a bad name or conflicting rooms; see detail.
	TargetInvalid
)

// ResolveTarget applies the target resolution of §4.4 to a room and channel
// ("" means absent). On TargetInvalid, detail is "Invalid room name: <x>",
// "Invalid channel name: <x>" or "Conflicting room: '<room>' vs '<r>'".
func ResolveTarget(room, channel string) (r, c string, st TargetStatus, detail string) {
	switch {
	case strings.IndexByte(channel, ':') >= 0:
		r, c, _ = strings.Cut(channel, ":")
		if room != "" && room != r {
			return "", "", TargetInvalid, "Conflicting room: '" + room + "' vs '" + r + "'"
		}
	case channel == "" && strings.IndexByte(room, ':') >= 0:
		r, c, _ = strings.Cut(room, ":")
	case room != "" && channel != "":
		r, c = room, channel
	case room == "" && channel == "":
		return "", "", TargetNone, ""
	default:
		return "", "", TargetMissing, ""
	}
	if !ValidName(r) {
		return "", "", TargetInvalid, "Invalid room name: " + r
	}
	if !ValidName(c) {
		return "", "", TargetInvalid, "Invalid channel name: " + c
	}
	return r, c, TargetOK, ""
}

var nameTail, tenantTail = func() (n, t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		n[c], t[c] = true, true
	}
	for c := 'a'; c <= 'z'; c++ {
		n[c], t[c] = true, true
		n[c-'a'+'A'], t[c-'a'+'A'] = true, true
	}
	n['_'], n['-'], n['.'] = true, true, true
	t['_'], t['-'] = true, true
	return n, t
}()

// ValidName reports whether s is a room or channel name:
// ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ (§4.4).
func ValidName(s string) bool { return validGrammar(s, &nameTail) }

// ValidTenant reports whether s is a tenant id:
// ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$ (§3.3).
func ValidTenant(s string) bool { return validGrammar(s, &tenantTail) }

func validGrammar(s string, tail *[256]bool) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	if c := s[0]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !tail[s[i]] {
			return false
		}
	}
	return true
}
