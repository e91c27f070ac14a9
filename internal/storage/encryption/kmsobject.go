package encryption

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// encryptedObject is upstream's KMS v2 stored value (the protobuf message
// EncryptedObject of k8s.io/apiserver's envelope/kmsv2/v2 api.proto),
// encoded by hand with protowire: the generated type lives in
// k8s.io/apiserver, which Skiff does not link.
//
//	bytes encryptedData = 1;
//	string keyID = 2;
//	bytes encryptedDEKSource = 3;
//	map<string, bytes> annotations = 4;
//	EncryptedDEKSourceType encryptedDEKSourceType = 5;
type encryptedObject struct {
	EncryptedData      []byte
	KeyID              string
	EncryptedDEKSource []byte
	Annotations        map[string][]byte
	SourceType         dekSourceType
}

// dekSourceType is upstream's EncryptedDEKSourceType: what the plugin
// encrypted.
type dekSourceType int32

const (
	// dekSourceAESGCMKey: the plugin encrypted the AES-GCM key itself
	// (upstream before 1.29, still readable).
	dekSourceAESGCMKey dekSourceType = 0
	// dekSourceHKDFSeed: the plugin encrypted a seed; each write derives
	// its own key with HKDF-SHA256 (upstream's default since 1.29).
	dekSourceHKDFSeed dekSourceType = 1
)

// Upstream's limits on what a plugin returns.
const (
	kmsKeyIDMaxSize       = 1024
	kmsDEKSourceMaxSize   = 1024
	kmsAnnotationsMaxSize = 32 * 1024
)

var errBadEncryptedObject = errors.New("invalid encrypted object")

func (o *encryptedObject) marshal() []byte {
	size := len(o.EncryptedData) + len(o.KeyID) + len(o.EncryptedDEKSource) + 32
	for k, v := range o.Annotations {
		size += len(k) + len(v) + 16
	}
	b := make([]byte, 0, size)
	if len(o.EncryptedData) > 0 {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, o.EncryptedData)
	}
	if o.KeyID != "" {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, o.KeyID)
	}
	if len(o.EncryptedDEKSource) > 0 {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, o.EncryptedDEKSource)
	}
	for _, k := range sortedKeys(o.Annotations) {
		var entry []byte
		entry = protowire.AppendTag(entry, 1, protowire.BytesType)
		entry = protowire.AppendString(entry, k)
		entry = protowire.AppendTag(entry, 2, protowire.BytesType)
		entry = protowire.AppendBytes(entry, o.Annotations[k])
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendBytes(b, entry)
	}
	if o.SourceType != 0 {
		b = protowire.AppendTag(b, 5, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(o.SourceType))
	}
	return b
}

func unmarshalEncryptedObject(b []byte) (*encryptedObject, error) {
	o := &encryptedObject{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("%w: %v", errBadEncryptedObject, protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == 5 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, fmt.Errorf("%w: encryptedDEKSourceType: %v", errBadEncryptedObject, protowire.ParseError(n))
			}
			o.SourceType, b = dekSourceType(v), b[n:]
		case num >= 1 && num <= 4 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, fmt.Errorf("%w: field %d: %v", errBadEncryptedObject, num, protowire.ParseError(n))
			}
			b = b[n:]
			switch num {
			case 1:
				o.EncryptedData = v
			case 2:
				o.KeyID = string(v)
			case 3:
				o.EncryptedDEKSource = v
			case 4:
				k, val, err := consumeMapEntry(v)
				if err != nil {
					return nil, err
				}
				if o.Annotations == nil {
					o.Annotations = map[string][]byte{}
				}
				o.Annotations[k] = val
			}
		default:
			// Unknown fields are skipped, as a generated decoder does.
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, fmt.Errorf("%w: field %d: %v", errBadEncryptedObject, num, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	return o, nil
}

func consumeMapEntry(b []byte) (string, []byte, error) {
	var k string
	var v []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.BytesType {
			return "", nil, fmt.Errorf("%w: annotations entry", errBadEncryptedObject)
		}
		b = b[n:]
		val, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return "", nil, fmt.Errorf("%w: annotations entry", errBadEncryptedObject)
		}
		b = b[n:]
		switch num {
		case 1:
			k = string(val)
		case 2:
			v = val
		}
	}
	return k, v, nil
}

// validate checks what upstream's ValidateEncryptedObject checks, on
// reads and on writes.
func (o *encryptedObject) validate() error {
	if o.SourceType != dekSourceAESGCMKey && o.SourceType != dekSourceHKDFSeed {
		return fmt.Errorf("%w: unknown encryptedDEKSourceType: %d", errBadEncryptedObject, o.SourceType)
	}
	if len(o.EncryptedData) == 0 {
		return fmt.Errorf("%w: encrypted data is empty", errBadEncryptedObject)
	}
	if err := validateDEKSource(o.EncryptedDEKSource); err != nil {
		return fmt.Errorf("%w: %w", errBadEncryptedObject, err)
	}
	if err := validateKeyID(o.KeyID); err != nil {
		return fmt.Errorf("%w: %w", errBadEncryptedObject, err)
	}
	if err := validateAnnotations(o.Annotations); err != nil {
		return fmt.Errorf("%w: %w", errBadEncryptedObject, err)
	}
	return nil
}

func validateDEKSource(src []byte) error {
	if len(src) == 0 {
		return errors.New("encrypted DEK source is empty")
	}
	if len(src) > kmsDEKSourceMaxSize {
		return fmt.Errorf("encrypted DEK source is %d bytes, which exceeds the max size of %d", len(src), kmsDEKSourceMaxSize)
	}
	return nil
}

func validateKeyID(id string) error {
	if id == "" {
		return errors.New("keyID is empty")
	}
	if len(id) > kmsKeyIDMaxSize {
		return fmt.Errorf("keyID is %d bytes, which exceeds the max size of %d", len(id), kmsKeyIDMaxSize)
	}
	return nil
}

// validateAnnotations: keys are fully qualified domain names (at least
// two labels), and keys plus values stay under 32 kB.
func validateAnnotations(a map[string][]byte) error {
	var errs []error
	total := 0
	for k, v := range a {
		if !isFullyQualifiedDomainName(k) {
			errs = append(errs, fmt.Errorf("annotations: Invalid value: %q: should be a domain with at least two segments separated by dots", k))
		}
		total += len(k) + len(v)
	}
	if total > kmsAnnotationsMaxSize {
		errs = append(errs, fmt.Errorf("total size of annotations is %d, which exceeds the max size of %d", total, kmsAnnotationsMaxSize))
	}
	return errors.Join(errs...)
}

func isFullyQualifiedDomainName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	labels := strings.Split(s, ".")
	if len(labels) < 2 || len(s) > 253 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return false
			}
		}
	}
	return true
}

// dekCacheKey identifies a decrypted DEK source by what the plugin was
// given, as upstream's generateCacheKey (type, source, key ID, sorted
// annotations, length-prefixed), so a value whose annotations differ is
// never opened with another value's key.
func dekCacheKey(o *encryptedObject) string {
	var b []byte
	b = binary.BigEndian.AppendUint32(b, uint32(o.SourceType))
	b = appendLenPrefixed(b, o.EncryptedDEKSource)
	b = appendLenPrefixed(b, []byte(o.KeyID))
	if len(o.Annotations) > 0 {
		b = binary.BigEndian.AppendUint32(b, uint32(len(o.Annotations)))
		for _, k := range sortedKeys(o.Annotations) {
			b = appendLenPrefixed(b, []byte(k))
			b = appendLenPrefixed(b, o.Annotations[k])
		}
	}
	return string(b)
}

func appendLenPrefixed(b, v []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
