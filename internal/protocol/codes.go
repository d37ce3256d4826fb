// Package protocol is the ArqonBus wire codec (PROTOCOL.md §4): the envelope
// type, frame decoding and validation, JSON Lines batches, target resolution,
// identifiers, timestamps, the append-style encoder and command-argument
// helpers. It is on the hot path of every frame, so it avoids reflection and
// allocates a fixed, small number of times per decoded frame.
package protocol

// Version is the protocol version carried in every envelope.
const Version = "1.0"

// ServerSender is the sender of frames the server originates.
const ServerSender = "arqonbus"

// Error codes (PROTOCOL.md §12).
const (
	CodeInvalidJSON        = "INVALID_JSON"
	CodeValidation         = "VALIDATION_ERROR"
	CodeUnknownCommand     = "UNKNOWN_COMMAND"
	CodeAuthorization      = "AUTHORIZATION_ERROR"
	CodeNotFound           = "NOT_FOUND"
	CodeMissingTarget      = "MISSING_TARGET"
	CodeTargetNotFound     = "TARGET_NOT_FOUND"
	CodeRateLimited        = "RATE_LIMITED"
	CodeLimitExceeded      = "LIMIT_EXCEEDED"
	CodeChannelNotEmpty    = "CHANNEL_NOT_EMPTY"
	CodeChannelProtected   = "CHANNEL_PROTECTED"
	CodeStorageUnavailable = "STORAGE_UNAVAILABLE"
	CodeFeatureDisabled    = "FEATURE_DISABLED"
	CodeExecutionError     = "EXECUTION_ERROR"
	CodeCasilBlockedSecret = "CASIL_POLICY_BLOCKED_SECRET"
	CodeCasilOversize      = "CASIL_POLICY_OVERSIZE"
	CodeCasilInternal      = "CASIL_INTERNAL_ERROR"
	CodeInternal           = "INTERNAL_ERROR"
)

// Envelope types (§5). Inbound: message, event, private, command, telemetry,
// response, ping. Decode rewrites event to message.
const (
	TypeMessage         = "message"
	TypeEvent           = "event"
	TypePrivate         = "private"
	TypeCommand         = "command"
	TypeTelemetry       = "telemetry"
	TypeResponse        = "response"
	TypePing            = "ping"
	TypePong            = "pong"
	TypeMessageResponse = "message_response"
	TypeCommandResponse = "command_response"
	TypeError           = "error"
	TypeSystem          = "system"
)

// Response statuses (§4.1).
const (
	StatusSuccess = "success"
	StatusError   = "error"
	StatusPending = "pending"
)

// Fixed error texts (§4.5, §5.6).
const (
	MsgValidationFailed = "Message validation failed"
	MsgInvalidJSON      = "Invalid JSON: "
)
