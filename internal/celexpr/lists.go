package celexpr

import (
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// k8sLists is upstream's lists library: l.isSorted(), l.sum(), l.min(),
// l.max(), l.indexOf(x), l.lastIndexOf(x).
type k8sLists struct{}

func (k8sLists) LibraryName() string { return "kubernetes.lists" }

func (k8sLists) CompileOptions() []cel.EnvOption {
	t := cel.TypeParamType("T")
	listT := cel.ListType(t)
	comparable := []*cel.Type{cel.IntType, cel.UintType, cel.DoubleType, cel.BoolType, cel.StringType, cel.BytesType, cel.DurationType, cel.TimestampType}
	summable := []struct {
		t    *cel.Type
		zero ref.Val
	}{{cel.IntType, types.Int(0)}, {cel.UintType, types.Uint(0)}, {cel.DoubleType, types.Double(0)}, {cel.DurationType, types.Duration{}}}

	var sums, mins, maxs, sorted []cel.FunctionOpt
	for _, s := range summable {
		zero := s.zero
		sums = append(sums, cel.MemberOverload("list_"+s.t.String()+"_sum", []*cel.Type{cel.ListType(s.t)}, s.t,
			cel.UnaryBinding(func(v ref.Val) ref.Val { return listSum(v, zero) })))
	}
	for _, c := range comparable {
		mins = append(mins, cel.MemberOverload("list_"+c.String()+"_min", []*cel.Type{cel.ListType(c)}, c,
			cel.UnaryBinding(func(v ref.Val) ref.Val { return listExtreme(v, "min", -1) })))
		maxs = append(maxs, cel.MemberOverload("list_"+c.String()+"_max", []*cel.Type{cel.ListType(c)}, c,
			cel.UnaryBinding(func(v ref.Val) ref.Val { return listExtreme(v, "max", 1) })))
		sorted = append(sorted, cel.MemberOverload("list_"+c.String()+"_is_sorted", []*cel.Type{cel.ListType(c)}, cel.BoolType,
			cel.UnaryBinding(listIsSorted)))
	}
	return []cel.EnvOption{
		cel.Function("sum", sums...),
		cel.Function("min", mins...),
		cel.Function("max", maxs...),
		cel.Function("isSorted", sorted...),
		cel.Function("indexOf", cel.MemberOverload("list_a_index_of_int", []*cel.Type{listT, t}, cel.IntType,
			cel.BinaryBinding(func(l, x ref.Val) ref.Val { return listIndexOf(l, x, false) }))),
		cel.Function("lastIndexOf", cel.MemberOverload("list_a_last_index_of_int", []*cel.Type{listT, t}, cel.IntType,
			cel.BinaryBinding(func(l, x ref.Val) ref.Val { return listIndexOf(l, x, true) }))),
	}
}

func (k8sLists) ProgramOptions() []cel.ProgramOption { return nil }

func items(v ref.Val) ([]ref.Val, ref.Val) {
	l, ok := v.(traits.Lister)
	if !ok {
		return nil, types.MaybeNoSuchOverloadErr(v)
	}
	var out []ref.Val
	for it := l.Iterator(); it.HasNext() == types.True; {
		out = append(out, it.Next())
	}
	return out, nil
}

func listSum(v ref.Val, zero ref.Val) ref.Val {
	xs, e := items(v)
	if e != nil {
		return e
	}
	acc := zero
	for _, x := range xs {
		a, ok := acc.(traits.Adder)
		if !ok {
			return types.MaybeNoSuchOverloadErr(acc)
		}
		acc = a.Add(x)
		if types.IsError(acc) {
			return acc
		}
	}
	return acc
}

func listExtreme(v ref.Val, name string, want types.Int) ref.Val {
	xs, e := items(v)
	if e != nil {
		return e
	}
	if len(xs) == 0 {
		return errVal("%s called on empty list", name)
	}
	best := xs[0]
	for _, x := range xs[1:] {
		c, ok := x.(traits.Comparer)
		if !ok {
			return types.MaybeNoSuchOverloadErr(x)
		}
		if r := c.Compare(best); types.IsError(r) {
			return r
		} else if r == want {
			best = x
		}
	}
	return best
}

func listIsSorted(v ref.Val) ref.Val {
	xs, e := items(v)
	if e != nil {
		return e
	}
	for i := 1; i < len(xs); i++ {
		c, ok := xs[i-1].(traits.Comparer)
		if !ok {
			return types.MaybeNoSuchOverloadErr(xs[i-1])
		}
		if r := c.Compare(xs[i]); types.IsError(r) {
			return r
		} else if r == types.IntOne {
			return types.False
		}
	}
	return types.True
}

func listIndexOf(l, x ref.Val, last bool) ref.Val {
	xs, e := items(l)
	if e != nil {
		return e
	}
	idx := types.Int(-1)
	for i, y := range xs {
		if y.Equal(x) == types.True {
			idx = types.Int(i)
			if !last {
				break
			}
		}
	}
	return idx
}
