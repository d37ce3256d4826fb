package storage

import (
	"cmp"
	"slices"
	"time"
)

// selectHistory applies PROTOCOL.md §6.12 steps 2–4 to the retained windows
// of the selected streams (each ordered by offset). Both backends call it, so
// their history results are identical by construction.
func selectHistory(windows [][]Entry, q Query) QueryResult {
	var matches []Entry
	for _, w := range windows {
		for _, e := range w {
			if !q.Since.IsZero() && e.StoredAt.Before(q.Since) {
				continue
			}
			if !q.Until.IsZero() && !e.StoredAt.Before(q.Until) {
				continue
			}
			if q.HasAfter && e.Offset <= q.AfterOffset {
				continue
			}
			matches = append(matches, e)
		}
	}
	if len(windows) > 1 {
		slices.SortFunc(matches, compareMerged)
	}
	res := QueryResult{Entries: matches}
	if q.Limit > 0 && len(matches) > q.Limit {
		res.HasMore = true
		if q.HasAfter {
			res.Entries = matches[:q.Limit:q.Limit]
		} else {
			res.Entries = matches[len(matches)-q.Limit:]
		}
	}
	if res.Entries == nil {
		res.Entries = []Entry{}
	}
	return res
}

// compareMerged orders merged streams by acceptance time, room, channel,
// offset (PROTOCOL.md §6.12 step 4).
func compareMerged(a, b Entry) int {
	if c := a.StoredAt.Compare(b.StoredAt); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Key.Room, b.Key.Room); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Key.Channel, b.Key.Channel); c != 0 {
		return c
	}
	return cmp.Compare(a.Offset, b.Offset)
}

// queryMatchesStream says whether a stream of the query's tenant is selected
// by the query's room and channel (PROTOCOL.md §6.12 step 1).
func queryMatchesStream(q Query, room, channel string) bool {
	if q.Room != "" && q.Room != room {
		return false
	}
	return q.Channel == "" || q.Channel == channel
}

// ttlCutoffMs is the oldest acceptance time (Unix ms) still retained under
// the age limit, or 0 when there is none. An entry is fresh iff its ts is >=
// the cutoff; both backends use this same rule (OPERATIONS.md §5.4).
func ttlCutoffMs(now time.Time, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return now.UnixMilli() - ttl.Milliseconds()
}

// tsAtFunc returns the acceptance time (Unix ms) of a stream's entry at
// offset o; ok is false when the entry is absent.
type tsAtFunc func(o uint64) (ts int64, ok bool)

// firstAtLeast is the smallest offset in [lo, hi] whose entry is present
// with ts >= t, or hi+1 when there is none. It probes lo, then bisects
// (lo, hi], so it reads O(log n) entries instead of scanning. It relies on
// entries' ts being non-decreasing by offset within a stream; where they are
// not, it still returns a deterministic boundary, and both backends probe
// the same offsets in the same order (redis.go's Lua firstAtLeast mirrors
// this function), so their results stay identical.
func firstAtLeast(tsAt tsAtFunc, lo, hi uint64, t int64) uint64 {
	if lo > hi {
		return hi + 1
	}
	if ts, ok := tsAt(lo); ok && ts >= t {
		return lo
	}
	a, b := lo+1, hi+1
	for a < b {
		m := a + (b-a)/2
		if ts, ok := tsAt(m); ok && ts >= t {
			b = m
		} else {
			a = m + 1
		}
	}
	return a
}

// ceilMs is the smallest Unix millisecond not before t: an entry stored at
// ms satisfies !StoredAt.Before(t) iff ms >= ceilMs(t), and StoredAt.Before(t)
// iff ms < ceilMs(t).
func ceilMs(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}

// historyRange narrows one stream's retained offsets [low, top] to the
// offsets [from, to] that can match q (offset > AfterOffset, acceptance time
// in [Since, Until)), by bisection on ts (firstAtLeast). Empty when from >
// to. selectHistory still filters every returned entry exactly.
func historyRange(tsAt tsAtFunc, low, top uint64, q Query) (from, to uint64) {
	from, to = low, top
	if q.HasAfter && q.AfterOffset >= from {
		if q.AfterOffset >= to {
			return to + 1, to
		}
		from = q.AfterOffset + 1
	}
	if !q.Since.IsZero() && from <= to {
		from = firstAtLeast(tsAt, from, to, ceilMs(q.Since))
	}
	if !q.Until.IsZero() && from <= to {
		to = firstAtLeast(tsAt, from, to, ceilMs(q.Until)) - 1
	}
	return from, to
}

// perStreamBound is how many matches History reads from each stream: Limit+1
// from the paging end (newest for the default window, oldest with
// AfterOffset) is enough for selectHistory to choose the same window and
// has_more as it would from every match, since the merged window takes at
// most Limit entries from any one stream, in that stream's order.
func perStreamBound(q Query, size int) int {
	if q.Limit > 0 && q.Limit < size {
		return q.Limit + 1
	}
	return size
}
