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
