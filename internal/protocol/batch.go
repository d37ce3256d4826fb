package protocol

import "bytes"

// SplitBatch implements inbound JSON Lines (§2.2.1): if frame is one valid
// JSON value it returns [frame]; otherwise it splits frame on '\n', dropping
// empty lines (which includes one trailing newline). A frame made only of
// empty lines yields no envelopes. The lines alias frame.
func SplitBatch(frame []byte) [][]byte { return AppendBatch(nil, frame) }

// AppendBatch is SplitBatch appending to dst, so a caller can reuse the
// slice across frames.
func AppendBatch(dst [][]byte, frame []byte) [][]byte {
	nl := bytes.IndexByte(frame, '\n')
	if nl < 0 {
		// Splitting a frame without newlines gives the frame itself.
		if len(frame) == 0 {
			return dst
		}
		return append(dst, frame)
	}
	if _, detail := validJSON(frame); detail.ok() {
		return append(dst, frame)
	}
	for len(frame) > 0 {
		if nl < 0 {
			return append(dst, frame)
		}
		if nl > 0 {
			dst = append(dst, frame[:nl:nl])
		}
		frame = frame[nl+1:]
		nl = bytes.IndexByte(frame, '\n')
	}
	return dst
}
