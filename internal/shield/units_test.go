package shield

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/arqonbus/arqonbus/internal/config"
)

func TestMirrorRules(t *testing.T) {
	bad := map[string]string{
		"in.t.=10":    "empty subject token",
		"in..t=10":    "empty subject token",
		"in.>.x=10":   "'>' must be the last token",
		"in.t*=10":    "wildcard must be a whole token",
		"in.t.a b=10": "wildcard must be a whole token",
		"in.t.>=101":  "percent must be between 0 and 100",
		"in.t.>=-1":   "percent must be between 0 and 100",
		"in.t.>=x":    "percent must be between 0 and 100",
		"in.t.>":      "missing '='",
	}
	for rule, reason := range bad {
		_, err := config.ParseMirrorRule(rule)
		want := fmt.Sprintf("ARQON_SHIELD_MIRROR_RULES: invalid rule %q: %s", rule, reason)
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %s", rule, err, want)
		}
	}
	rules, errs := config.ParseMirrorRules(" in.t.*.raw=25 , ,in.t.>=100")
	if len(errs) != 0 || len(rules) != 2 || rules[0].Percent != 25 {
		t.Fatalf("%v %v", rules, errs)
	}
	match := []struct {
		pattern, subject string
		want             bool
	}{
		{"in.t.>", "in.t.a.raw", true}, {"in.t.*.raw", "in.t.a.raw", true}, {"in.t.*", "in.t.a.raw", false},
		{"in.t.>", "in.t", false}, {"in.t.a.raw", "in.t.a.raw", true}, {"in.t.b.raw", "in.t.a.raw", false},
		{">", "x", true}, {"*", "x.y", false},
	}
	for _, m := range match {
		r, err := config.ParseMirrorRule(m.pattern + "=1")
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Matches(m.subject); got != m.want {
			t.Errorf("%s ~ %s = %v", m.pattern, m.subject, got)
		}
	}
	if p := mirrorPercent(rules, "in.t.a.raw"); p != 25 {
		t.Errorf("first matching rule wins: %v", p)
	}
}

// Vector 14 sampling.
func TestSampling(t *testing.T) {
	u0 := SampleUnit("arq_conn_00000000000000000000000000000000")
	u1 := SampleUnit("arq_conn_00000000000000000000000000000001")
	if math.Abs(u0-0.069276) > 1e-6 || math.Abs(u1-0.269557) > 1e-6 {
		t.Fatalf("u0=%f u1=%f", u0, u1)
	}
	if !Sampled(u0, 10) || Sampled(u1, 10) || !Sampled(u1, 30) || Sampled(u0, 0) || !Sampled(0.99999, 100) {
		t.Error("sampling decisions")
	}
	n := 0
	for i := 0; i < 10000; i++ {
		if Sampled(SampleUnit(fmt.Sprintf("conn-%d", i)), 50) {
			n++
		}
	}
	if n != 5012 {
		t.Errorf("selected %d of 10000, reference hash selects 5012", n)
	}
}

func TestAdversarialSecretRules(t *testing.T) {
	for _, s := range config.KnownDefaultSecrets() {
		if errs := SecretErrors(" "+strings.ToUpper(s)+" ", ProfileDevelopment); len(errs) != 1 || !strings.Contains(errs[0], "known default") {
			t.Errorf("%s: %v", s, errs)
		}
	}
	if errs := SecretErrors(strings.Repeat("k", 20), ProfileDevelopment); len(errs) != 0 {
		t.Errorf("weak secret refused in development: %v", errs)
	}
}

func TestEnvelopeDescriptor(t *testing.T) {
	want := map[protoreflect.FieldNumber]string{1: "trace_id", 2: "tenant_id", 3: "room_id", 4: "timestamp", 5: "twist_id", 6: "headers", 10: "signature", 20: "cmd", 21: "event", 22: "signal"}
	f := envelopeDesc.Fields()
	if f.Len() != len(want) {
		t.Fatalf("%d fields", f.Len())
	}
	for num, name := range want {
		if fd := f.ByNumber(num); fd == nil || string(fd.Name()) != name {
			t.Errorf("field %d: %v", num, fd)
		}
	}
	if !f.ByName("headers").IsMap() || f.ByName("cmd").ContainingOneof() == nil || envelopeDesc.FullName() != "arqon.v1.Envelope" {
		t.Error("headers map / payload oneof")
	}
}

func TestAdversarialDecodeBinaryEnvelope(t *testing.T) {
	env, err := DecodeBinaryEnvelope([]byte{0x0A, 0x03, 'a', 'b', 'c'})
	if err != nil || env.TraceID != "abc" {
		t.Fatalf("%v %+v", err, env)
	}
	if env, err := DecodeBinaryEnvelope(nil); err != nil || *env != (BinaryEnvelope{}) {
		t.Errorf("empty: %v", err)
	}
	for name, b := range map[string][]byte{
		"garbage":       {0xFF, 0xFF, 0xFF},
		"truncated":     {0x0A, 0x05, 'a'},
		"wire mismatch": {0x08, 0x01},             // field 1 (string) as varint
		"bad utf8":      {0x0A, 0x02, 0xC3, 0x28}, // trace_id invalid UTF-8
	} {
		if _, err := DecodeBinaryEnvelope(b); err == nil {
			t.Errorf("%s decoded", name)
		}
	}
	// Unknown fields are accepted; signal is refused as server-originated.
	if _, err := DecodeBinaryEnvelope([]byte{0xF8, 0x06, 0x01}); err != nil {
		t.Errorf("unknown field: %v", err)
	}
	env, err = DecodeBinaryEnvelope([]byte{0xB2, 0x01, 0x02, 0x08, 0x01})
	if !errors.Is(err, errSignalEnvelope) || env == nil || env.Kind != "signal" {
		t.Errorf("signal: %v %+v", err, env)
	}
	stamped := StampTenant([]byte{0x0A, 0x03, 'a', 'b', 'c'}, "tenant-e2e")
	if env, err := DecodeBinaryEnvelope(stamped); err != nil || env.TenantID != "tenant-e2e" || env.TraceID != "abc" {
		t.Errorf("stamped: %v %+v", err, env)
	}
	if env, _ := DecodeBinaryEnvelope(StampTenant(StampTenant(nil, "x"), "y")); env.TenantID != "y" {
		t.Error("last value wins")
	}
}

func TestBuiltinSchema(t *testing.T) {
	s, err := LoadSchemas("")
	if err != nil {
		t.Fatal(err)
	}
	valid := []string{
		`{"type":"message"}`,
		`{"type":"ping","id":"arq_1","version":"1.0","timestamp":"2026-03-01T12:00:00"}`,
		`{"type":"event","timestamp":"2026-03-01T12:00:00.123456789+02:00","room":"r","metadata":{"tenant_id":"t","x":1},"args":{},"payload":[1]}`,
	}
	for _, v := range valid {
		env, _ := decodeJSONObject([]byte(v))
		if errs := s.Validate(env); errs != nil {
			t.Errorf("%s: %v", v, errs)
		}
	}
	invalid := map[string]string{
		`{"id":"arq_1"}`:                                        "",
		`{"type":"nope"}`:                                       "/type: ",
		`{"type":"message","id":"msg_1"}`:                       "/id: ",
		`{"type":"message","version":"2.0"}`:                    "/version: ",
		`{"type":"message","timestamp":"yesterday"}`:            "/timestamp: ",
		`{"type":"message","timestamp":"2026-03-01 12:00:00Z"}`: "/timestamp: ",
		`{"type":"message","room":""}`:                          "/room: ",
		`{"type":"message","metadata":{"tenant_id":5}}`:         "/metadata/tenant_id: ",
		`{"type":"message","args":[]}`:                          "/args: ",
		`{"type":"message","foo":1}`:                            "",
	}
	for v, prefix := range invalid {
		env, ok := decodeJSONObject([]byte(v))
		if !ok {
			t.Fatalf("%s not decoded", v)
		}
		errs := s.Validate(env)
		if len(errs) == 0 || !strings.HasPrefix(errs[0], prefix) {
			t.Errorf("%s: %v", v, errs)
		}
	}
}

func TestSchemaDir(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "message.json", `{"required":["room"]}`)
	writeFile(t, dir, "README.txt", `ignored`)
	s, err := LoadSchemas(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.ExtraTypes(); len(got) != 1 || got[0] != "message" {
		t.Errorf("extra types %v", got)
	}
	env, _ := decodeJSONObject([]byte(`{"type":"message"}`))
	if errs := s.Validate(env); len(errs) == 0 {
		t.Error("per-type schema not applied")
	}
	env, _ = decodeJSONObject([]byte(`{"type":"event"}`))
	if errs := s.Validate(env); errs != nil {
		t.Errorf("per-type schema applied to another type: %v", errs)
	}
	bad := t.TempDir()
	writeFile(t, bad, "weird.json", `{}`)
	if _, err := LoadSchemas(bad); err == nil || err.Error() != `ARQON_SCHEMA_DIR: weird.json: unknown envelope type "weird"` {
		t.Errorf("unknown type: %v", err)
	}
	remote := t.TempDir()
	writeFile(t, remote, "event.json", `{"$ref":"https://example.com/schema.json"}`)
	if _, err := LoadSchemas(remote); err == nil || !strings.HasPrefix(err.Error(), "ARQON_SCHEMA_DIR: event.json: ") {
		t.Errorf("remote ref: %v", err)
	}
}

func TestIDs(t *testing.T) {
	id := NewConnID()
	if len(id) != 41 || strings.Trim(id[9:], "0123456789abcdef") != "" {
		t.Errorf("conn id %q", id)
	}
	m := NewMessageID()
	if len(m) != 30 || strings.Trim(m[4:], crockford) != "" || m[4] > '7' {
		t.Errorf("message id %q", m)
	}
}

func TestRedactURLs(t *testing.T) {
	got := redactURLs("nats://u:secretpw@h:4222, nats://tok@h2:4222,tls://h3:4222")
	if strings.Contains(got, "secretpw") || strings.Contains(got, "tok@") || got != "nats://u:***@h:4222,nats://***@h2:4222,tls://h3:4222" {
		t.Errorf("redacted %q", got)
	}
}

// FuzzTextFrame checks the JSON frame validator never panics and that
// anything it accepts is a JSON object the normaliser can re-encode.
func FuzzTextFrame(f *testing.F) {
	s, err := LoadSchemas("")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{`{"type":"message","id":"arq_msg_001","payload":{"n":1}}`, `not json`, `[]`, `{"type":"ping"}`, `{"timestamp":"2026-03-01T12:00:00.1+01:00","type":"event"}`, `{"a":1e999}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, ok := decodeJSONObject(b)
		if !ok {
			return
		}
		errs := s.Validate(env)
		if len(errs) > maxSchemaErrors {
			t.Fatalf("%d errors", len(errs))
		}
		for _, e := range errs {
			if !utf8.ValidString(e) && utf8.Valid(b) {
				t.Fatalf("invalid UTF-8 error text %q", e)
			}
		}
	})
}

// FuzzBinaryFrame checks the protobuf validator never panics and that
// stamping always yields the token tenant while keeping the original bytes.
func FuzzBinaryFrame(f *testing.F) {
	for _, seed := range [][]byte{{0x0A, 0x03, 'a', 'b', 'c'}, {}, {0xFF, 0xFF, 0xFF}, {0xB2, 0x01, 0x00}, bigEventEnvelope(10)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := DecodeBinaryEnvelope(b)
		if err != nil && !errors.Is(err, errSignalEnvelope) {
			return
		}
		stamped := StampTenant(b, "tenant-a")
		if !bytes.HasPrefix(stamped, b) {
			t.Fatal("stamping changed the original bytes")
		}
		got, err2 := DecodeBinaryEnvelope(stamped)
		if got == nil || got.TenantID != "tenant-a" || (err == nil) != (err2 == nil) || got.TraceID != env.TraceID {
			t.Fatalf("stamped %x: %+v %v", stamped, got, err2)
		}
	})
}
