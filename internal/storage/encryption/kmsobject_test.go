package encryption

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// upstreamEncryptedObject is upstream's api.proto (package v2,
// k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/v2) rebuilt as
// a descriptor, so the protobuf library's own encoder checks ours.
func upstreamEncryptedObject(t *testing.T) protoreflect.MessageDescriptor {
	t.Helper()
	s := func(v string) *string { return &v }
	n := func(v int32) *int32 { return &v }
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	rep := descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
	typ := func(t descriptorpb.FieldDescriptorProto_Type) *descriptorpb.FieldDescriptorProto_Type { return &t }
	fd := &descriptorpb.FileDescriptorProto{
		Name: s("api.proto"), Package: s("v2"), Syntax: s("proto3"),
		EnumType: []*descriptorpb.EnumDescriptorProto{{
			Name: s("EncryptedDEKSourceType"),
			Value: []*descriptorpb.EnumValueDescriptorProto{
				{Name: s("AES_GCM_KEY"), Number: n(0)},
				{Name: s("HKDF_SHA256_XNONCE_AES_GCM_SEED"), Number: n(1)},
			},
		}},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: s("EncryptedObject"),
			Field: []*descriptorpb.FieldDescriptorProto{
				{Name: s("encryptedData"), JsonName: s("encryptedData"), Number: n(1), Label: opt, Type: typ(descriptorpb.FieldDescriptorProto_TYPE_BYTES)},
				{Name: s("keyID"), JsonName: s("keyID"), Number: n(2), Label: opt, Type: typ(descriptorpb.FieldDescriptorProto_TYPE_STRING)},
				{Name: s("encryptedDEKSource"), JsonName: s("encryptedDEKSource"), Number: n(3), Label: opt, Type: typ(descriptorpb.FieldDescriptorProto_TYPE_BYTES)},
				{Name: s("annotations"), JsonName: s("annotations"), Number: n(4), Label: rep, Type: typ(descriptorpb.FieldDescriptorProto_TYPE_MESSAGE), TypeName: s(".v2.EncryptedObject.AnnotationsEntry")},
				{Name: s("encryptedDEKSourceType"), JsonName: s("encryptedDEKSourceType"), Number: n(5), Label: opt, Type: typ(descriptorpb.FieldDescriptorProto_TYPE_ENUM), TypeName: s(".v2.EncryptedDEKSourceType")},
			},
			NestedType: []*descriptorpb.DescriptorProto{{
				Name: s("AnnotationsEntry"),
				Field: []*descriptorpb.FieldDescriptorProto{
					{Name: s("key"), JsonName: s("key"), Number: n(1), Label: opt, Type: typ(descriptorpb.FieldDescriptorProto_TYPE_STRING)},
					{Name: s("value"), JsonName: s("value"), Number: n(2), Label: opt, Type: typ(descriptorpb.FieldDescriptorProto_TYPE_BYTES)},
				},
				Options: &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)},
			}},
		}},
	}
	f, err := protodesc.NewFile(fd, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f.Messages().ByName("EncryptedObject")
}

func TestEncryptedObjectWireFormat(t *testing.T) {
	md := upstreamEncryptedObject(t)
	ours := encryptedObject{
		EncryptedData: []byte("ciphertext"), KeyID: "key-1", EncryptedDEKSource: []byte("wrapped-seed"),
		Annotations: map[string][]byte{"a.example.com": []byte("1"), "b.example.com": []byte("2")},
		SourceType:  dekSourceHKDFSeed,
	}
	// Ours decodes with the protobuf library as upstream's message...
	m := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(ours.marshal(), m); err != nil {
		t.Fatal(err)
	}
	f := md.Fields()
	if string(m.Get(f.ByName("encryptedData")).Bytes()) != "ciphertext" || m.Get(f.ByName("keyID")).String() != "key-1" ||
		string(m.Get(f.ByName("encryptedDEKSource")).Bytes()) != "wrapped-seed" || m.Get(f.ByName("encryptedDEKSourceType")).Enum() != 1 ||
		m.Get(f.ByName("annotations")).Map().Len() != 2 {
		t.Fatalf("decoded by the protobuf library: %v", m)
	}
	// ...and the library's encoding (deterministic, as upstream's
	// proto.Marshal of a map) is byte for byte ours.
	lib, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(lib, ours.marshal()) {
		t.Fatalf("encodings differ:\nlibrary %x\nours    %x", lib, ours.marshal())
	}
	back, err := unmarshalEncryptedObject(lib)
	if err != nil || back.KeyID != "key-1" || string(back.Annotations["b.example.com"]) != "2" || back.SourceType != dekSourceHKDFSeed {
		t.Fatalf("decoded: %+v %v", back, err)
	}
	// AES_GCM_KEY (0) is the proto3 default: not on the wire.
	zero := ours
	zero.SourceType = dekSourceAESGCMKey
	if back, err := unmarshalEncryptedObject(zero.marshal()); err != nil || back.SourceType != dekSourceAESGCMKey {
		t.Fatalf("AES_GCM_KEY: %+v %v", back, err)
	}
	if _, err := unmarshalEncryptedObject([]byte{0x0a, 0x05, 'a'}); err == nil {
		t.Fatal("a truncated object decoded")
	}
}

func TestEncryptedObjectValidate(t *testing.T) {
	ok := encryptedObject{EncryptedData: []byte{1}, KeyID: "k", EncryptedDEKSource: []byte{1}}
	for _, tc := range []struct {
		name string
		edit func(*encryptedObject)
	}{
		{"empty data", func(o *encryptedObject) { o.EncryptedData = nil }},
		{"empty key ID", func(o *encryptedObject) { o.KeyID = "" }},
		{"long key ID", func(o *encryptedObject) { o.KeyID = string(bytes.Repeat([]byte("k"), 1025)) }},
		{"empty DEK source", func(o *encryptedObject) { o.EncryptedDEKSource = nil }},
		{"unknown type", func(o *encryptedObject) { o.SourceType = 7 }},
		{"annotation not a domain", func(o *encryptedObject) { o.Annotations = map[string][]byte{"nodots": nil} }},
		{"annotations too big", func(o *encryptedObject) {
			o.Annotations = map[string][]byte{"a.example.com": bytes.Repeat([]byte{1}, 33*1024)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.edit(&o)
			if err := o.validate(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if err := ok.validate(); err != nil {
		t.Fatal(err)
	}
}
