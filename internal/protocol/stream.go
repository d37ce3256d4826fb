package protocol

import (
	"encoding/json"
	"errors"
	"strconv"
)

// SetStreamPosition returns metadata (a JSON object) with the keys "offset"
// and "epoch" set, replacing client-supplied values under those keys; other
// keys are kept in their order after them (§5.1). Metadata that is empty or
// not a JSON object is replaced by an object holding only the two keys. The
// result is a new slice.
func SetStreamPosition(metadata json.RawMessage, offset uint64, epoch string) json.RawMessage {
	return appendStreamPosition(make([]byte, 0, len(metadata)+32+len(epoch)), metadata, offset, epoch)
}

func appendStreamPosition(dst, md []byte, offset uint64, epoch string) []byte {
	dst = append(dst, `{"offset":`...)
	dst = strconv.AppendUint(dst, offset, 10)
	dst = append(dst, `,"epoch":`...)
	dst = AppendString(dst, epoch)
	if len(md) == 0 || string(md) == "{}" {
		return append(dst, '}')
	}
	i := skipWS(md, 0)
	if i >= len(md) || md[i] != '{' {
		return append(dst, '}')
	}
	mark := len(dst)
	it := newObjIter(md, i, 1)
	for {
		k, v, ok, detail := it.next()
		if !detail.ok() {
			return append(dst[:mark], '}')
		}
		if !ok {
			break
		}
		if keyEquals(md, k, "offset") || keyEquals(md, k, "epoch") {
			continue
		}
		dst = append(dst, ',')
		dst = append(dst, md[k.start:k.end]...)
		dst = append(dst, ':')
		dst = appendValue(dst, md, v)
	}
	if skipWS(md, it.i) != len(md) {
		return append(dst[:mark], '}')
	}
	return append(dst, '}')
}

// ErrNotEnvelope is returned by InjectStreamPosition for input that is not a
// JSON object.
var ErrNotEnvelope = errors.New("protocol: stored envelope is not a JSON object")

// InjectStreamPosition applies SetStreamPosition to the "metadata" of an
// encoded envelope (used when reading history back) and returns the new
// envelope; envelope itself is not modified. An envelope without "metadata"
// gets one. Invalid JSON or a non-object yields an error wrapping
// ErrNotEnvelope.
func InjectStreamPosition(envelope []byte, offset uint64, epoch string) ([]byte, error) {
	i := skipWS(envelope, 0)
	if i >= len(envelope) || envelope[i] != '{' {
		return nil, ErrNotEnvelope
	}
	// Validate fully and find the metadata values before writing anything.
	var mdBuf [4]span
	mds := mdBuf[:0]
	it := newObjIter(envelope, i, 1)
	for {
		k, v, ok, detail := it.next()
		if !detail.ok() {
			return nil, errors.Join(ErrNotEnvelope, errors.New(detail.String()))
		}
		if !ok {
			break
		}
		if keyEquals(envelope, k, "metadata") {
			mds = append(mds, v)
		}
	}
	end := it.i // index after the closing brace
	if skipWS(envelope, end) != len(envelope) {
		return nil, ErrNotEnvelope
	}
	out := make([]byte, 0, len(envelope)+48+len(epoch))
	if len(mds) == 0 {
		body := envelope[:end-1] // without the closing brace
		out = append(out, body...)
		if !isOpenBrace(body) {
			out = append(out, ',')
		}
		out = append(out, `"metadata":`...)
		out = appendStreamPosition(out, nil, offset, epoch)
		out = append(out, '}')
		return append(out, envelope[end:]...), nil
	}
	prev := 0
	for _, md := range mds {
		out = append(out, envelope[prev:md.start]...)
		out = appendStreamPosition(out, envelope[md.start:md.end], offset, epoch)
		prev = md.end
	}
	return append(out, envelope[prev:]...), nil
}

// isOpenBrace reports whether b, ignoring trailing whitespace, ends with '{'
// (an object with no members yet).
func isOpenBrace(b []byte) bool {
	for j := len(b) - 1; j >= 0; j-- {
		if !wsTable[b[j]] {
			return b[j] == '{'
		}
	}
	return false
}
