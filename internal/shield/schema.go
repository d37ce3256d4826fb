package shield

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// EnvelopeTypes are the envelope types the built-in schema accepts, and the
// only names allowed for ARQON_SCHEMA_DIR files (SHIELD.md §9.4).
var EnvelopeTypes = []string{"message", "event", "private", "command", "telemetry", "response", "ping"}

const builtinSchemaURL = "https://schemas.arqonbus.invalid/shield/envelope.json"

// builtinSchema is the envelope schema of SHIELD.md §9.4. The timestamp
// uses a custom format because date-time requires an offset.
const builtinSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["type"],
  "additionalProperties": false,
  "properties": {
    "type": {"enum": ["message", "event", "private", "command", "telemetry", "response", "ping"]},
    "id": {"type": "string", "pattern": "^arq_[A-Za-z0-9_-]{1,124}$"},
    "version": {"const": "1.0"},
    "timestamp": {"type": "string", "format": "arqon-timestamp"},
    "room": {"type": "string", "minLength": 1, "maxLength": 128},
    "channel": {"type": "string", "minLength": 1, "maxLength": 128},
    "command": {"type": "string", "minLength": 1, "maxLength": 128},
    "sender": {"type": "string", "maxLength": 256},
    "from": {"type": "string", "maxLength": 256},
    "from_client": {"type": "string", "maxLength": 256},
    "to_client": {"type": "string", "maxLength": 256},
    "request_id": {"type": "string", "maxLength": 256},
    "status": {"type": "string", "maxLength": 256},
    "error": {"type": "string", "maxLength": 256},
    "error_code": {"type": "string", "maxLength": 256},
    "payload": true,
    "args": {"type": "object"},
    "metadata": {"type": "object", "properties": {"tenant_id": {"type": "string"}}}
  }
}`

var timestampRE = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?$`)

// ValidTimestamp reports whether s is an envelope timestamp: RFC 3339 with
// a T separator, 0–9 fractional digits and an optional Z or ±HH:MM offset.
func ValidTimestamp(s string) bool {
	m := timestampRE.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	off := m[3]
	if off == "" {
		off = "Z"
	}
	_, err := time.Parse(time.RFC3339Nano, m[1]+m[2]+off)
	return err == nil
}

var timestampFormat = &jsonschema.Format{
	Name: "arqon-timestamp",
	Validate: func(v any) error {
		s, ok := v.(string)
		if !ok || ValidTimestamp(s) {
			return nil
		}
		return errors.New("not an RFC 3339 timestamp")
	},
}

// Schemas validates JSON envelopes: the built-in schema plus optional
// per-type schemas (SHIELD.md §9.4).
type Schemas struct {
	builtin *jsonschema.Schema
	perType map[string]*jsonschema.Schema
}

// ExtraTypes lists the types that have a per-type schema, sorted.
func (s *Schemas) ExtraTypes() []string {
	out := make([]string, 0, len(s.perType))
	for t := range s.perType {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

func newCompiler() *jsonschema.Compiler {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.RegisterFormat(timestampFormat)
	// Only local files resolve: remote references fail at compile time.
	c.UseLoader(jsonschema.SchemeURLLoader{"file": jsonschema.FileLoader{}})
	return c
}

// LoadSchemas compiles the built-in schema and every *.json file of dir
// (if dir is non-empty). Errors carry the exact startup message.
func LoadSchemas(dir string) (*Schemas, error) {
	c := newCompiler()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(builtinSchema))
	if err != nil {
		return nil, fmt.Errorf("built-in schema: %w", err)
	}
	if err := c.AddResource(builtinSchemaURL, doc); err != nil {
		return nil, fmt.Errorf("built-in schema: %w", err)
	}
	s := &Schemas{perType: map[string]*jsonschema.Schema{}}
	if s.builtin, err = c.Compile(builtinSchemaURL); err != nil {
		return nil, fmt.Errorf("built-in schema: %w", err)
	}
	if dir == "" {
		return s, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("ARQON_SCHEMA_DIR: %q is not a readable directory", dir)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") {
			continue
		}
		typ := strings.TrimSuffix(name, ".json")
		if !slices.Contains(EnvelopeTypes, typ) {
			return nil, fmt.Errorf("ARQON_SCHEMA_DIR: %s: unknown envelope type %q", name, typ)
		}
		path, err := filepath.Abs(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("ARQON_SCHEMA_DIR: %s: %v", name, err)
		}
		sch, err := compileFile(path)
		if err != nil {
			return nil, fmt.Errorf("ARQON_SCHEMA_DIR: %s: %v", name, err)
		}
		s.perType[typ] = sch
	}
	return s, nil
}

func compileFile(path string) (*jsonschema.Schema, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	c := newCompiler()
	url := "file://" + filepath.ToSlash(path)
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

// maxSchemaErrors bounds payload.errors of SCHEMA_VIOLATION.
const maxSchemaErrors = 10

// Validate checks an envelope decoded with json.Number numbers against the
// built-in schema and its type's schema. It returns nil when valid, else
// up to 10 `<JSON pointer>: <message>` strings.
func (s *Schemas) Validate(env map[string]any) []string {
	var out []string
	if !builtinValid(env) {
		out = appendSchemaErrors(out, s.builtin.Validate(env))
	}
	if t, ok := env["type"].(string); ok {
		if sch := s.perType[t]; sch != nil {
			out = appendSchemaErrors(out, sch.Validate(env))
		}
	}
	if len(out) > maxSchemaErrors {
		out = out[:maxSchemaErrors]
	}
	return out
}

// builtinValid is a fast check of builtinSchema that only ever says true
// for envelopes the compiled schema accepts (FuzzBuiltinValid checks this).
// When it says false, the compiled schema runs and reports the errors.
func builtinValid(env map[string]any) bool {
	if _, ok := env["type"]; !ok {
		return false
	}
	for k, v := range env {
		switch k {
		case "type":
			t, ok := v.(string)
			if !ok || !slices.Contains(EnvelopeTypes, t) {
				return false
			}
		case "id":
			if s, ok := v.(string); !ok || !validEnvelopeID(s) {
				return false
			}
		case "version":
			if s, ok := v.(string); !ok || s != "1.0" {
				return false
			}
		case "timestamp":
			if s, ok := v.(string); !ok || !ValidTimestamp(s) {
				return false
			}
		case "room", "channel", "command":
			if s, ok := v.(string); !ok || s == "" || len(s) > 128 && utf8.RuneCountInString(s) > 128 {
				return false
			}
		case "sender", "from", "from_client", "to_client", "request_id", "status", "error", "error_code":
			if s, ok := v.(string); !ok || len(s) > 256 && utf8.RuneCountInString(s) > 256 {
				return false
			}
		case "payload":
		case "args":
			if _, ok := v.(map[string]any); !ok {
				return false
			}
		case "metadata":
			m, ok := v.(map[string]any)
			if !ok {
				return false
			}
			if t, present := m["tenant_id"]; present {
				if _, ok := t.(string); !ok {
					return false
				}
			}
		default:
			return false
		}
	}
	return true
}

// validEnvelopeID matches ^arq_[A-Za-z0-9_-]{1,124}$.
func validEnvelopeID(s string) bool {
	rest, ok := strings.CutPrefix(s, "arq_")
	if !ok || len(rest) < 1 || len(rest) > 124 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func appendSchemaErrors(out []string, err error) []string {
	if err == nil {
		return out
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return append(out, ": "+err.Error())
	}
	unit := ve.BasicOutput()
	for _, u := range unit.Errors {
		if u.Error == nil || len(out) >= maxSchemaErrors {
			continue
		}
		msg := u.Error.String()
		if strings.HasPrefix(msg, "validation failed") || msg == "" {
			continue
		}
		out = append(out, u.InstanceLocation+": "+msg)
	}
	if len(out) == 0 {
		out = append(out, ": "+strings.ReplaceAll(ve.Error(), "\n", " "))
	}
	return out
}

// decodeJSONObject decodes a text frame as a single JSON object with
// numbers kept as literals (SHIELD.md §9.4).
func decodeJSONObject(b []byte) (map[string]any, bool) {
	var d jsonDecoder
	return d.decode(b)
}
