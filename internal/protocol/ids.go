package protocol

import (
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"sync"
	"time"
)

// crockford is the ULID alphabet (Crockford base32, uppercase).
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// idLen is the length of a server-generated message id: "arq_" + 26.
const idLen = 4 + 26

// ulidState makes ids monotonic: within one millisecond (or when the clock
// goes backwards) the 80-bit random part is incremented instead of redrawn.
// Message ids need uniqueness, not secrecy, so a ChaCha8 stream seeded from
// crypto/rand avoids a system call per id.
var ulidState struct {
	mu     sync.Mutex
	ms     uint64
	hi     uint16 // top 16 bits of the random part
	lo     uint64 // low 64 bits of the random part
	rng    *rand.ChaCha8
	seeded bool
}

// NewID returns a new server message id: "arq_" followed by a 26-character
// uppercase Crockford ULID, monotonic within a millisecond. It is safe for
// concurrent use.
func NewID() string {
	var buf [idLen]byte
	return string(AppendID(buf[:0], time.Now()))
}

// AppendID appends a new message id (see NewID) whose time part is t.
func AppendID(dst []byte, t time.Time) []byte {
	ms := uint64(t.UnixMilli())
	if t.UnixMilli() < 0 {
		ms = 0
	}
	st := &ulidState
	st.mu.Lock()
	if !st.seeded {
		var seed [32]byte
		_, _ = crand.Read(seed[:])
		st.rng = rand.NewChaCha8(seed)
		st.seeded = true
	}
	if ms <= st.ms {
		ms = st.ms
		st.lo++
		if st.lo == 0 {
			st.hi++
			if st.hi == 0 { // 2^80 ids in one millisecond: borrow the next one
				ms++
				st.hi, st.lo = uint16(st.rng.Uint64()), st.rng.Uint64()
			}
		}
	} else {
		st.hi, st.lo = uint16(st.rng.Uint64()), st.rng.Uint64()
	}
	st.ms = ms
	hi, lo := st.hi, st.lo
	st.mu.Unlock()

	// 128 bits: 48-bit time, 80-bit random, written as 26 base32 digits
	// (the first digit carries only the top 3 bits).
	var b [16]byte
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	binary.BigEndian.PutUint16(b[6:8], hi)
	binary.BigEndian.PutUint64(b[8:16], lo)
	var out [26]byte
	th := binary.BigEndian.Uint64(b[0:8])
	tl := binary.BigEndian.Uint64(b[8:16])
	for k := 25; k >= 0; k-- {
		out[k] = crockford[tl&31]
		tl = tl>>5 | th<<59
		th >>= 5
	}
	dst = append(dst, "arq_"...)
	return append(dst, out[:]...)
}

// NewClientID returns "arq_client_" followed by 32 lowercase hex characters
// drawn from crypto/rand (128 random bits).
func NewClientID() string {
	return "arq_client_" + RandomHex(16)
}

// RandomHex returns 2*nBytes lowercase hex characters drawn from crypto/rand.
func RandomHex(nBytes int) string {
	if nBytes <= 0 {
		return ""
	}
	b := make([]byte, nBytes)
	_, _ = crand.Read(b) // never fails (crypto/rand, Go ≥ 1.24)
	return hex.EncodeToString(b)
}

// NewEpoch returns a new stream epoch: 16 lowercase hex characters.
func NewEpoch() string { return RandomHex(8) }

// idTail marks the characters allowed after "arq_" in a client id.
var idTail = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	t['_'], t['-'] = true, true
	return t
}()

// ValidID reports whether s is an acceptable client-supplied message id:
// ^arq_[A-Za-z0-9_-]{1,124}$ (§4.2).
func ValidID(s string) bool { return validID(s) }

func validID[T string | []byte](s T) bool {
	if len(s) < 5 || len(s) > 128 || string(s[:4]) != "arq_" {
		return false
	}
	for i := 4; i < len(s); i++ {
		if !idTail[s[i]] {
			return false
		}
	}
	return true
}
