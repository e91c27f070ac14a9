package celexpr

import (
	"fmt"
	"reflect"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// opaque is a Kubernetes CEL value (Quantity, URL, IP, CIDR) of Go type T:
// CEL sees it as an opaque type it can only pass to the library's
// functions, compare with == and convert with string().
type opaque[T any] struct {
	v     T
	typ   *types.Type
	equal func(a, b T) bool
	str   func(T) string
}

var _ ref.Val = opaque[int]{}

func (o opaque[T]) ConvertToNative(typeDesc reflect.Type) (any, error) {
	if reflect.TypeOf(o.v).AssignableTo(typeDesc) {
		return o.v, nil
	}
	if typeDesc.Kind() == reflect.String && o.str != nil {
		return o.str(o.v), nil
	}
	return nil, fmt.Errorf("type conversion error from '%s' to '%v'", o.typ.TypeName(), typeDesc)
}

func (o opaque[T]) ConvertToType(typeVal ref.Type) ref.Val {
	switch typeVal {
	case o.typ:
		return o
	case types.TypeType:
		return o.typ
	case types.StringType:
		if o.str != nil {
			return types.String(o.str(o.v))
		}
	}
	return types.NewErr("type conversion error from '%s' to '%s'", o.typ.TypeName(), typeVal.TypeName())
}

func (o opaque[T]) Equal(other ref.Val) ref.Val {
	p, ok := other.(opaque[T])
	if !ok || p.typ != o.typ {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return types.Bool(o.equal(o.v, p.v))
}

func (o opaque[T]) Type() ref.Type { return o.typ }
func (o opaque[T]) Value() any     { return o.v }

// unwrap returns v's Go value if it is an opaque T.
func unwrap[T any](v ref.Val) (T, bool) {
	o, ok := v.(opaque[T])
	return o.v, ok
}

// errVal is a CEL error value with upstream's wording.
func errVal(format string, args ...any) ref.Val {
	return types.NewErr(format, args...)
}
