package shield

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// The arqon.v1 descriptors are built in Go so that no descriptor file is
// read at runtime (SHIELD.md §9.5); proto/envelope.proto is the reference
// source of the same definitions.
var (
	envelopeDesc protoreflect.MessageDescriptor
	fdTraceID    protoreflect.FieldDescriptor
	fdTenantID   protoreflect.FieldDescriptor
	fdRoomID     protoreflect.FieldDescriptor
	fdCmd        protoreflect.FieldDescriptor
	fdEvent      protoreflect.FieldDescriptor
	fdSignal     protoreflect.FieldDescriptor
)

func init() {
	fd, err := protodesc.NewFile(envelopeFileProto(), nil)
	if err != nil {
		panic("shield: building arqon.v1 descriptor: " + err.Error())
	}
	envelopeDesc = fd.Messages().ByName("Envelope")
	f := envelopeDesc.Fields()
	fdTraceID, fdTenantID, fdRoomID = f.ByNumber(1), f.ByNumber(2), f.ByNumber(3)
	fdCmd, fdEvent, fdSignal = f.ByNumber(20), f.ByNumber(21), f.ByNumber(22)
}

func envelopeFileProto() *descriptorpb.FileDescriptorProto {
	s := proto.String
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
	rep := descriptorpb.FieldDescriptorProto_LABEL_REPEATED
	field := func(name string, num int32, label descriptorpb.FieldDescriptorProto_Label, typ descriptorpb.FieldDescriptorProto_Type, typeName string) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{Name: s(name), Number: proto.Int32(num), Label: label.Enum(), Type: typ.Enum(), JsonName: s(jsonName(name))}
		if typeName != "" {
			f.TypeName = s(typeName)
		}
		return f
	}
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING
	byt := descriptorpb.FieldDescriptorProto_TYPE_BYTES
	msg := descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
	oneof := func(f *descriptorpb.FieldDescriptorProto) *descriptorpb.FieldDescriptorProto {
		f.OneofIndex = proto.Int32(0)
		return f
	}
	typeData := func(name string) *descriptorpb.DescriptorProto {
		return &descriptorpb.DescriptorProto{Name: s(name), Field: []*descriptorpb.FieldDescriptorProto{
			field("type", 1, opt, str, ""), field("data", 2, opt, byt, ""),
		}}
	}
	return &descriptorpb.FileDescriptorProto{
		Name:    s("arqon/v1/envelope.proto"),
		Package: s("arqon.v1"),
		Syntax:  s("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{
			{
				Name: s("Envelope"),
				Field: []*descriptorpb.FieldDescriptorProto{
					field("trace_id", 1, opt, str, ""),
					field("tenant_id", 2, opt, str, ""),
					field("room_id", 3, opt, str, ""),
					field("timestamp", 4, opt, descriptorpb.FieldDescriptorProto_TYPE_INT64, ""),
					field("twist_id", 5, opt, str, ""),
					field("headers", 6, rep, msg, ".arqon.v1.Envelope.HeadersEntry"),
					field("signature", 10, opt, byt, ""),
					oneof(field("cmd", 20, opt, msg, ".arqon.v1.Command")),
					oneof(field("event", 21, opt, msg, ".arqon.v1.Event")),
					oneof(field("signal", 22, opt, msg, ".arqon.v1.SystemSignal")),
				},
				NestedType: []*descriptorpb.DescriptorProto{{
					Name:    s("HeadersEntry"),
					Field:   []*descriptorpb.FieldDescriptorProto{field("key", 1, opt, str, ""), field("value", 2, opt, str, "")},
					Options: &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)},
				}},
				OneofDecl: []*descriptorpb.OneofDescriptorProto{{Name: s("payload")}},
			},
			typeData("Command"),
			typeData("Event"),
			{
				Name: s("SystemSignal"),
				Field: []*descriptorpb.FieldDescriptorProto{
					field("type", 1, opt, descriptorpb.FieldDescriptorProto_TYPE_ENUM, ".arqon.v1.SystemSignal.SignalType"),
					field("reason", 2, opt, str, ""),
				},
				EnumType: []*descriptorpb.EnumDescriptorProto{{
					Name: s("SignalType"),
					Value: []*descriptorpb.EnumValueDescriptorProto{
						{Name: s("UNKNOWN"), Number: proto.Int32(0)},
						{Name: s("DISCONNECT"), Number: proto.Int32(1)},
						{Name: s("BAN"), Number: proto.Int32(2)},
					},
				}},
			},
		},
	}
}

func jsonName(s string) string {
	out := make([]byte, 0, len(s))
	up := false
	for i := 0; i < len(s); i++ {
		if s[i] == '_' {
			up = true
			continue
		}
		c := s[i]
		if up && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		up = false
		out = append(out, c)
	}
	return string(out)
}

// BinaryEnvelope is what Shield needs from a decoded binary frame.
type BinaryEnvelope struct {
	TraceID, TenantID, RoomID string
	// Kind is "cmd", "event", "signal" or "".
	Kind string
}

// errSignalEnvelope is the schema error for client-sent signals.
var errSignalEnvelope = errors.New("signal envelopes are server-originated")

// DecodeBinaryEnvelope decodes b as arqon.v1.Envelope with standard proto3
// rules (SHIELD.md §9.5). A decode failure returns a nil envelope and the
// error; a decodable frame carrying signal returns the envelope and
// errSignalEnvelope.
func DecodeBinaryEnvelope(b []byte) (*BinaryEnvelope, error) {
	m := dynamicpb.NewMessage(envelopeDesc)
	if err := (proto.UnmarshalOptions{}).Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("invalid arqon.v1.Envelope: %w", err)
	}
	if err := checkWireTypes(m); err != nil {
		return nil, fmt.Errorf("invalid arqon.v1.Envelope: %w", err)
	}
	env := &BinaryEnvelope{
		TraceID:  m.Get(fdTraceID).String(),
		TenantID: m.Get(fdTenantID).String(),
		RoomID:   m.Get(fdRoomID).String(),
	}
	switch {
	case m.Has(fdCmd):
		env.Kind = "cmd"
	case m.Has(fdEvent):
		env.Kind = "event"
	case m.Has(fdSignal):
		env.Kind = "signal"
		return env, errSignalEnvelope
	}
	return env, nil
}

// StampTenant returns frame followed by one encoded field 2 (tenant_id)
// holding tenant (SHIELD.md §9.6): proto3 "last value wins" makes the
// decoded tenant equal to tenant while every original byte is unchanged.
func StampTenant(frame []byte, tenant string) []byte {
	out := make([]byte, 0, len(frame)+2+len(tenant)+4)
	out = append(out, frame...)
	out = protowire.AppendTag(out, 2, protowire.BytesType)
	return protowire.AppendString(out, tenant)
}

// checkWireTypes rejects known field numbers kept as unknown fields: Go's
// decoder keeps a wire-type mismatch on a known field as unknown data,
// which SHIELD.md §9.5 counts as a decoding failure.
func checkWireTypes(m protoreflect.Message) error {
	fields := m.Descriptor().Fields()
	raw := m.GetUnknown()
	for len(raw) > 0 {
		num, _, n := protowire.ConsumeField(raw)
		if n < 0 {
			return protowire.ParseError(n)
		}
		if fields.ByNumber(num) != nil {
			return fmt.Errorf("wrong wire type for field %d", num)
		}
		raw = raw[n:]
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() == protoreflect.MessageKind && !fd.IsMap() && !fd.IsList() {
			err = checkWireTypes(v.Message())
		}
		return err == nil
	})
	return err
}
