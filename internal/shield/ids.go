package shield

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// NewConnID returns `arq_conn_` and 32 lowercase hex characters (SHIELD.md §2).
func NewConnID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "arq_conn_" + hex.EncodeToString(b[:])
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewMessageID returns `arq_` and a 26-character ULID (48-bit millisecond
// time, 80 random bits, Crockford base32).
func NewMessageID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	var out [4 + 26]byte
	copy(out[:], "arq_")
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	// 128 bits as 26 base32 digits: the first digit carries the top 3 bits.
	for i := 25; i >= 0; i-- {
		out[4+i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// Timestamp formats t as UTC RFC 3339 with milliseconds and Z.
func Timestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
