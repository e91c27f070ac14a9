// Package expansion expands $(VAR) references the way Kubernetes does in a
// container's env values, command, args and subPathExpr:
//
//   - $(NAME) is replaced by NAME's value when the mapping knows NAME, and
//     left as written ("$(NAME)") when it does not;
//   - $$ is an escaped $: "$$(NAME)" yields the literal "$(NAME)";
//   - a $ followed by anything else, or an unterminated "$(", is kept as is.
//
// The rules are upstream's (third_party/forked/golang/expansion); values are
// never expanded recursively.
package expansion

import "strings"

// Expand replaces the references in input using mapping.
func Expand(input string, mapping func(name string) string) string {
	var b strings.Builder
	checkpoint := 0
	for cursor := 0; cursor < len(input); cursor++ {
		if input[cursor] != '$' || cursor+1 >= len(input) {
			continue
		}
		b.WriteString(input[checkpoint:cursor])
		read, isVar, advance := readVariable(input[cursor+1:])
		if isVar {
			b.WriteString(mapping(read))
		} else {
			b.WriteString(read)
		}
		cursor += advance
		checkpoint = cursor + 1
	}
	b.WriteString(input[checkpoint:])
	return b.String()
}

// readVariable reads what follows a '$': the text to emit (or the variable
// name when isVar), and how many bytes after the '$' it consumed.
func readVariable(s string) (read string, isVar bool, advance int) {
	switch s[0] {
	case '$':
		return "$", false, 1
	case '(':
		if end := strings.IndexByte(s[1:], ')'); end >= 0 {
			return s[1 : end+1], true, end + 2
		}
		// Unterminated: emit "$(" and go on after the '('.
		return "$(", false, 1
	default:
		return "$" + s[:1], false, 1
	}
}

// MappingFor returns a mapping that looks a name up in each map in turn and
// leaves unknown references as written.
func MappingFor(maps ...map[string]string) func(string) string {
	return func(name string) string {
		for _, m := range maps {
			if v, ok := m[name]; ok {
				return v
			}
		}
		return "$(" + name + ")"
	}
}
