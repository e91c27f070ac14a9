package celexpr

import (
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"k8s.io/apimachinery/pkg/api/resource"
)

// QuantityType is Kubernetes' resource quantity in CEL.
var QuantityType = cel.OpaqueType("kubernetes.Quantity")

// k8sQuantity is upstream's quantity library: quantity("1.5Gi"),
// isQuantity(s), and methods sign, isInteger, asInteger,
// asApproximateFloat, add, sub, isGreaterThan, isLessThan, compareTo.
type k8sQuantity struct{}

func (k8sQuantity) LibraryName() string { return "kubernetes.quantity" }

func newQuantity(q resource.Quantity) ref.Val {
	return opaque[resource.Quantity]{v: q, typ: QuantityType,
		equal: func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 },
		str:   func(q resource.Quantity) string { return q.String() }}
}

func (k8sQuantity) CompileOptions() []cel.EnvOption {
	q := QuantityType
	qOf := func(v ref.Val) (resource.Quantity, bool) { return unwrap[resource.Quantity](v) }
	unaryQ := func(f func(resource.Quantity) ref.Val) cel.OverloadOpt {
		return cel.UnaryBinding(func(v ref.Val) ref.Val {
			x, ok := qOf(v)
			if !ok {
				return types.MaybeNoSuchOverloadErr(v)
			}
			return f(x)
		})
	}
	binaryQQ := func(f func(a, b resource.Quantity) ref.Val) cel.OverloadOpt {
		return cel.BinaryBinding(func(l, r ref.Val) ref.Val {
			a, ok1 := qOf(l)
			b, ok2 := qOf(r)
			if !ok1 || !ok2 {
				return types.MaybeNoSuchOverloadErr(r)
			}
			return f(a, b)
		})
	}
	binaryQI := func(f func(a resource.Quantity, b int64) ref.Val) cel.OverloadOpt {
		return cel.BinaryBinding(func(l, r ref.Val) ref.Val {
			a, ok1 := qOf(l)
			b, ok2 := r.(types.Int)
			if !ok1 || !ok2 {
				return types.MaybeNoSuchOverloadErr(r)
			}
			return f(a, int64(b))
		})
	}
	add := func(a, b resource.Quantity) ref.Val { a = a.DeepCopy(); a.Add(b); return newQuantity(a) }
	sub := func(a, b resource.Quantity) ref.Val { a = a.DeepCopy(); a.Sub(b); return newQuantity(a) }
	return []cel.EnvOption{
		cel.Function("quantity", cel.Overload("string_to_quantity", []*cel.Type{cel.StringType}, q,
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				s, ok := v.(types.String)
				if !ok {
					return types.MaybeNoSuchOverloadErr(v)
				}
				parsed, err := resource.ParseQuantity(string(s))
				if err != nil {
					return errVal("%s", err.Error())
				}
				return newQuantity(parsed)
			}))),
		cel.Function("isQuantity", cel.Overload("is_quantity_string", []*cel.Type{cel.StringType}, cel.BoolType,
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				s, ok := v.(types.String)
				if !ok {
					return types.MaybeNoSuchOverloadErr(v)
				}
				_, err := resource.ParseQuantity(string(s))
				return types.Bool(err == nil)
			}))),
		cel.Function("sign", cel.MemberOverload("quantity_sign", []*cel.Type{q}, cel.IntType,
			unaryQ(func(x resource.Quantity) ref.Val { return types.Int(x.Sign()) }))),
		cel.Function("isInteger", cel.MemberOverload("quantity_is_integer", []*cel.Type{q}, cel.BoolType,
			unaryQ(func(x resource.Quantity) ref.Val { _, ok := x.AsInt64(); return types.Bool(ok) }))),
		cel.Function("asInteger", cel.MemberOverload("quantity_get_integer", []*cel.Type{q}, cel.IntType,
			unaryQ(func(x resource.Quantity) ref.Val {
				i, ok := x.AsInt64()
				if !ok {
					return errVal("cannot convert value to integer")
				}
				return types.Int(i)
			}))),
		cel.Function("asApproximateFloat", cel.MemberOverload("quantity_get_float", []*cel.Type{q}, cel.DoubleType,
			unaryQ(func(x resource.Quantity) ref.Val { return types.Double(x.AsApproximateFloat64()) }))),
		cel.Function("add",
			cel.MemberOverload("quantity_add", []*cel.Type{q, q}, q, binaryQQ(add)),
			cel.MemberOverload("quantity_add_int", []*cel.Type{q, cel.IntType}, q, binaryQI(func(a resource.Quantity, b int64) ref.Val {
				return add(a, *resource.NewQuantity(b, resource.DecimalSI))
			}))),
		cel.Function("sub",
			cel.MemberOverload("quantity_sub", []*cel.Type{q, q}, q, binaryQQ(sub)),
			cel.MemberOverload("quantity_sub_int", []*cel.Type{q, cel.IntType}, q, binaryQI(func(a resource.Quantity, b int64) ref.Val {
				return sub(a, *resource.NewQuantity(b, resource.DecimalSI))
			}))),
		cel.Function("isGreaterThan", cel.MemberOverload("quantity_is_greater_than", []*cel.Type{q, q}, cel.BoolType,
			binaryQQ(func(a, b resource.Quantity) ref.Val { return types.Bool(a.Cmp(b) > 0) }))),
		cel.Function("isLessThan", cel.MemberOverload("quantity_is_less_than", []*cel.Type{q, q}, cel.BoolType,
			binaryQQ(func(a, b resource.Quantity) ref.Val { return types.Bool(a.Cmp(b) < 0) }))),
		cel.Function("compareTo", cel.MemberOverload("quantity_compare_to", []*cel.Type{q, q}, cel.IntType,
			binaryQQ(func(a, b resource.Quantity) ref.Val { return types.Int(a.Cmp(b)) }))),
	}
}

func (k8sQuantity) ProgramOptions() []cel.ProgramOption { return nil }
