package expansion

import "testing"

func TestExpand(t *testing.T) {
	vars := map[string]string{"VAR_A": "A", "VAR_B": "B", "VAR_C": "C", "VAR_REF": "$(VAR_A)", "VAR_EMPTY": ""}
	tests := []struct{ in, want string }{
		{"", ""},
		{"no refs", "no refs"},
		{"$(VAR_A)", "A"},
		{"___$(VAR_B)___", "___B___"},
		{"$(VAR_A)-$(VAR_B)-$(VAR_C)", "A-B-C"},
		{"$(VAR_REF)", "$(VAR_A)"}, // not recursive
		{"$(VAR_EMPTY)", ""},
		{"$(UNKNOWN)", "$(UNKNOWN)"},
		{"$$(VAR_A)", "$(VAR_A)"},
		{"$$$(VAR_A)", "$A"},
		{"$$$$(VAR_A)", "$$(VAR_A)"},
		{"$(VAR_A", "$(VAR_A"},
		{"$(", "$("},
		{"$", "$"},
		{"foo$", "foo$"},
		{"$VAR_A", "$VAR_A"},
		{"$)", "$)"},
		{"$()", "$()"},
		{"$(VAR_A)$(VAR_B", "A$(VAR_B"},
		{"f000-$$VAR_A", "f000-$VAR_A"},
		{"\n$(VAR_A)\n", "\nA\n"},
		{"$(VAR_A)$$$(VAR_B)", "A$B"},
	}
	m := MappingFor(vars)
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := Expand(tc.in, m); got != tc.want {
				t.Errorf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestMappingForOrder(t *testing.T) {
	m := MappingFor(map[string]string{"X": "first"}, map[string]string{"X": "second", "Y": "y"})
	if got := Expand("$(X) $(Y)", m); got != "first y" {
		t.Fatalf("got %q", got)
	}
}
