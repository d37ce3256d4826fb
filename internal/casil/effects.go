package casil

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
)

// Blocked reports whether the envelope or command must be dropped and the
// sender sent the CASIL block frame (PROTOCOL.md §10) with ReasonCode.
func (r Result) Blocked() bool { return r.Decision == Block }

// Counted reports whether the evaluation counts in
// arqonbus_casil_decisions_total: every outcome except CASIL_DISABLED
// (OPERATIONS.md §8.6).
func (r Result) Counted() bool { return r.ReasonCode != ReasonDisabled && r.ReasonCode != "" }

// metricLabel holds the lower-case label values, so the hot path does not
// allocate them.
var metricLabel = map[string]string{
	Allow: "allow", AllowWithRedaction: "allow_with_redaction", Block: "block",
	ReasonDisabled: "casil_disabled", ReasonOutOfScope: "casil_out_of_scope",
	ReasonAllowed: "casil_policy_allowed", ReasonRedacted: "casil_policy_redacted",
	ReasonMonitorMode: "casil_monitor_mode", ReasonBlockedSecret: "casil_policy_blocked_secret",
	ReasonOversize: "casil_policy_oversize", ReasonInternalError: "casil_internal_error",
}

// MetricLabels returns the decision and reason label values of
// arqonbus_casil_decisions_total, in lower case (OPERATIONS.md §8.6).
func (r Result) MetricLabels() (decision, reason string) {
	return lowerLabel(r.Decision), lowerLabel(r.ReasonCode)
}

func lowerLabel(s string) string {
	if l, ok := metricLabel[s]; ok {
		return l
	}
	return strings.ToLower(s)
}

// WouldBlock reports a monitor-mode outcome that enforce mode would have
// blocked (rule (b) of OPERATIONS.md §8.5).
func (r Result) WouldBlock() bool {
	_, ok := r.Flags[FlagWouldBlock]
	return ok
}

// EnvelopeMetadata returns the metadata.casil object to add to the forwarded
// and stored copies of the envelope, or nil when none is added: it is added
// only with metadata_to_envelope=true, to in-scope envelopes that are let
// through, in either mode (OPERATIONS.md §8.6).
func (r Result) EnvelopeMetadata() json.RawMessage {
	if !r.toEnvelope || !r.InScope || r.Decision == Block || r.Decision == "" {
		return nil
	}
	flags := r.Flags
	if flags == nil {
		flags = map[string]any{}
	}
	b, err := json.Marshal(struct {
		Decision   string         `json:"decision"`
		ReasonCode string         `json:"reason_code"`
		Flags      map[string]any `json:"flags"`
		RiskLevel  string         `json:"risk_level"`
		Kind       string         `json:"kind"`
	}{r.Decision, r.ReasonCode, flags, r.RiskLevel, r.Kind})
	if err != nil {
		return nil
	}
	return b
}

// ReportedFlags returns the flags as logs and telemetry show them: {} when
// the target matches never_log_payload_for.
func (r Result) ReportedFlags() map[string]any {
	if r.NeverLog || r.Flags == nil {
		return map[string]any{}
	}
	return r.Flags
}

// EmitsTelemetry reports whether the bus publishes a casil_decision event
// (OPERATIONS.md §7.4, §8.6): for every BLOCK and ALLOW_WITH_REDACTION when
// metadata_to_telemetry=true.
func (r Result) EmitsTelemetry() bool {
	return r.toTelemetry && r.InScope && (r.Decision == Block || r.Decision == AllowWithRedaction)
}

// TelemetryData returns the data object of the casil_decision event, with
// exactly its seven keys (OPERATIONS.md §7.4). Empty room or channel (a
// private message, an op.store.set) become null. For a cron firing,
// clientID is the job owner and messageID the firing's id.
func (r Result) TelemetryData(room, channel, clientID, messageID string) map[string]any {
	return map[string]any{
		"decision":    r.Decision,
		"reason_code": r.ReasonCode,
		"room":        nullIfEmpty(room),
		"channel":     nullIfEmpty(channel),
		"client_id":   nullIfEmpty(clientID),
		"message_id":  nullIfEmpty(messageID),
		"flags":       r.ReportedFlags(),
	}
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Log messages (OPERATIONS.md §8.6).
const (
	LogBlocked    = "casil blocked message"
	LogWouldBlock = "casil would block message"
	LogRedacted   = "casil redacted message"
)

// Log writes the CASIL log line for the outcome, if any, when
// metadata_to_logs=true (OPERATIONS.md §8.6): WARN for a block and for a
// monitor-mode would-block (also when it was redacted: one line per
// outcome), INFO for any other ALLOW_WITH_REDACTION. It never logs payload
// content. Pass the logger of the casil component.
func (r Result) Log(ctx context.Context, l *slog.Logger, messageID, clientID, room, channel string) {
	if !r.toLogs || !r.InScope || l == nil {
		return
	}
	level, msg := slog.LevelInfo, ""
	switch {
	case r.Decision == Block:
		level, msg = slog.LevelWarn, LogBlocked
	case r.WouldBlock():
		level, msg = slog.LevelWarn, LogWouldBlock
	case r.Decision == AllowWithRedaction:
		msg = LogRedacted
	default:
		return
	}
	if !l.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("message_id", messageID),
		slog.String("client_id", clientID),
		slog.String("room", room),
		slog.String("channel", channel),
		slog.String("reason_code", r.ReasonCode),
		slog.Any("flags", r.ReportedFlags()),
	}
	if !r.NeverLog {
		keys := r.RedactedKeys
		if keys == nil {
			keys = []string{}
		}
		attrs = append(attrs, slog.Any("redacted_keys", keys))
	}
	l.LogAttrs(ctx, level, msg, attrs...)
}
