package storage

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// defaultTenantKey is the Redis key segment of the default tenant
// (OPERATIONS.md §5.4). No tenant claim can produce it.
const defaultTenantKey = "_"

// NewEpoch returns a fresh epoch: 16 random lowercase hex characters
// (OPERATIONS.md §5.3).
func NewEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// EncodeSegment percent-encodes one key segment: every byte outside
// [A-Za-z0-9_.-] becomes %XX with uppercase hex (OPERATIONS.md §5.4).
func EncodeSegment(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !plainByte(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hexdigits = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plainByte(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexdigits[c>>4], hexdigits[c&15])
	}
	return string(b)
}

var errBadSegment = errors.New("storage: malformed key segment")

// DecodeSegment reverses EncodeSegment. It rejects anything EncodeSegment
// cannot produce (lowercase hex, stray '%', unencoded special bytes), so a
// decoded segment always re-encodes to its input.
func DecodeSegment(s string) (string, error) {
	if !strings.Contains(s, "%") {
		for i := 0; i < len(s); i++ {
			if !plainByte(s[i]) {
				return "", errBadSegment
			}
		}
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case plainByte(c):
			b = append(b, c)
		case c == '%' && i+2 < len(s) && upperHex(s[i+1]) && upperHex(s[i+2]):
			v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if plainByte(byte(v)) {
				return "", errBadSegment
			}
			b = append(b, byte(v))
			i += 2
		default:
			return "", errBadSegment
		}
	}
	return string(b), nil
}

func plainByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

func upperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }

// tenantSegment is the `{<tenant>}` part of every key.
func tenantSegment(tenant string) string {
	if tenant == "" {
		return "{" + defaultTenantKey + "}"
	}
	return "{" + EncodeSegment(tenant) + "}"
}

// streamKeyName is `arqonbus:{<tenant>}:room:<room>:channel:<channel>`.
func streamKeyName(k StreamKey) string {
	return "arqonbus:" + tenantSegment(k.Tenant) + ":room:" + EncodeSegment(k.Room) + ":channel:" + EncodeSegment(k.Channel)
}

func channelsKeyName(tenant string) string { return "arqonbus:" + tenantSegment(tenant) + ":channels" }

func storeKeyName(tenant, ns string) string {
	return "arqonbus:" + tenantSegment(tenant) + ":store:" + EncodeSegment(ns)
}

// storeCountKeyName is `arqonbus:{<tenant>}:store_count`, a string holding
// the number of op.store keys over all the tenant's namespaces, kept by the
// KVSet/KVDelete scripts so KVCount needs no keyspace scan. It is an
// addition to the key layout of OPERATIONS.md §5.4 (inside the tenant's hash
// slot; not matched by storePattern, since it has no ':' after "store").
func storeCountKeyName(tenant string) string {
	return "arqonbus:" + tenantSegment(tenant) + ":store_count"
}

// storeUncountedKeyName is `arqonbus:{<tenant>}:store_uncounted`, a set that
// exists only while the counter is missing: the store hashes that gained a
// key meanwhile, so the counter can be rebuilt exactly (kvCountInitScript).
func storeUncountedKeyName(tenant string) string {
	return "arqonbus:" + tenantSegment(tenant) + ":store_uncounted"
}

// storePattern matches every op.store hash of a tenant. Encoded segments
// hold no glob metacharacters, so no escaping is needed.
func storePattern(tenant string) string { return "arqonbus:" + tenantSegment(tenant) + ":store:*" }

// tenantFromChannelsKey extracts the tenant from a registry key name.
func tenantFromChannelsKey(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, "arqonbus:{")
	if !ok {
		return "", false
	}
	seg, ok := strings.CutSuffix(rest, "}:channels")
	if !ok || seg == "" {
		return "", false
	}
	if seg == defaultTenantKey {
		return "", true
	}
	t, err := DecodeSegment(seg)
	if err != nil {
		return "", false
	}
	return t, true
}

// registryField is the registry hash field `<room>:<channel>`. Room and
// channel names never contain ':' (PROTOCOL.md §4.4).
func registryField(room, channel string) string { return room + ":" + channel }

func parseRegistryField(f string) (room, channel string, ok bool) {
	room, channel, ok = strings.Cut(f, ":")
	return room, channel, ok && room != "" && channel != ""
}

// ParseEntryID parses a stream entry ID of the form `<offset>-0`.
func ParseEntryID(id string) (uint64, error) {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok || seq != "0" {
		return 0, errors.New("storage: entry id is not <offset>-0")
	}
	return strconv.ParseUint(ms, 10, 64)
}

// msTime is the millisecond-precision UTC form of t used for StoredAt by
// both backends, so that their results compare equal.
func msTime(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }
