package protocol

import (
	"testing"
	"time"
)

// TestRegressionFormatTime pins an upstream defect (PROTOCOL.md §13.3,
// "Timestamps"): server times were naive, without an offset. They are UTC
// with milliseconds and Z.
func TestRegressionFormatTime(t *testing.T) {
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), "2026-03-01T12:00:00.000Z"},
		{time.Date(2026, 3, 1, 12, 0, 1, 999999999, time.UTC), "2026-03-01T12:00:01.999Z"},
		{time.Date(2026, 3, 1, 14, 0, 0, 5e6, time.FixedZone("x", 2*3600)), "2026-03-01T12:00:00.005Z"},
		{time.Date(9, 1, 2, 3, 4, 5, 6e7, time.UTC), "0009-01-02T03:04:05.060Z"},
	}
	for _, tc := range tests {
		if got := FormatTime(tc.in); got != tc.want {
			t.Errorf("FormatTime(%v) = %q, want %q", tc.in, got, tc.want)
		}
		if got := tc.in.UTC().Format("2006-01-02T15:04:05.000Z"); got != tc.want {
			t.Errorf("reference format %q", got)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	accept := map[string]time.Time{
		"2026-03-01T12:00:00Z":                time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		"2026-03-01T12:00:00.123Z":            time.Date(2026, 3, 1, 12, 0, 0, 123e6, time.UTC),
		"2026-03-01T12:00:00.1Z":              time.Date(2026, 3, 1, 12, 0, 0, 1e8, time.UTC),
		"2026-03-01T12:00:00.123456789+05:30": time.Date(2026, 3, 1, 6, 30, 0, 123456789, time.UTC),
		"2026-03-01T12:00:00":                 time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		"2026-03-01T12:00:00.123456":          time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC),
		"2026-03-01T12:00:00.123456+00:00":    time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC),
		"2026-03-01T12:00:00+00:00":           time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		"2026-03-01T00:30:00-01:00":           time.Date(2026, 3, 1, 1, 30, 0, 0, time.UTC),
		"2024-02-29T23:59:59Z":                time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC),
		"2000-02-29T00:00:00Z":                time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC),
	}
	for s, want := range accept {
		got, ok := ParseTimestamp(s)
		if !ok || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseTimestamp(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{
		"", "2026-03-01", "2026-03-01 12:00:00Z", "2026-03-01t12:00:00Z", "2026-03-01T12:00:00z",
		"2026-03-01T12:00:00.Z", "2026-03-01T12:00:00.1234567890Z", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z",
		"2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-03-01T24:00:00Z",
		"2026-03-01T12:60:00Z", "2026-03-01T12:00:60Z", "2026-03-01T12:00:00+0530", "2026-03-01T12:00:00+05",
		"2026-03-01T12:00:00+24:00", "2026-03-01T12:00:00Zjunk", "2026-03-01T12:00:00Z ", "+2026-03-01T12:00:00Z",
		"26-03-01T12:00:00Z", "2026-3-01T12:00:00Z", "2026-03-01T12:00", "yesterday", "2026-03-01T12:00:00,5Z",
		"2026-03-01T12:00:00.5+05:3a", "２026-03-01T12:00:00Z",
	} {
		if got, ok := ParseTimestamp(s); ok {
			t.Errorf("ParseTimestamp(%q) accepted: %v", s, got)
		}
	}
}
