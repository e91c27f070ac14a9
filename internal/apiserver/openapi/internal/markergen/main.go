// Command markergen reads the Go source of k8s.io/api and the published
// k8s.io/apimachinery packages and writes the facts that upstream's
// openapi-gen takes from comment markers, which reflection cannot see:
// +optional/+required, +listType, +listMapKey, +mapType, +structType and
// +default, plus the doc comments of the few apimachinery types that have no
// generated SwaggerDoc method (Time, Quantity, IntOrString, ...).
//
// It runs at development time through go generate in the parent package and
// needs the modules in the module cache (go list -m finds them); the product
// never runs it.
//
//	go run ./internal/markergen -o zz_generated.markers.go
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// apimachineryPackages are the apimachinery packages whose types appear in
// the published API.
var apimachineryPackages = []string{
	"pkg/apis/meta/v1",
	"pkg/runtime",
	"pkg/util/intstr",
	"pkg/api/resource",
	"pkg/version",
}

// docTypes are the published types that have no SwaggerDoc method, so their
// descriptions must come from their doc comments.
var docTypes = map[string]bool{
	"k8s.io/apimachinery/pkg/apis/meta/v1.Time":       true,
	"k8s.io/apimachinery/pkg/apis/meta/v1.MicroTime":  true,
	"k8s.io/apimachinery/pkg/apis/meta/v1.FieldsV1":   true,
	"k8s.io/apimachinery/pkg/apis/meta/v1.Duration":   true,
	"k8s.io/apimachinery/pkg/apis/meta/v1.WatchEvent": true,
	"k8s.io/apimachinery/pkg/runtime.RawExtension":    true,
	"k8s.io/apimachinery/pkg/util/intstr.IntOrString": true,
	"k8s.io/apimachinery/pkg/api/resource.Quantity":   true,
	"k8s.io/apimachinery/pkg/version.Info":            true,
}

func main() {
	out := flag.String("o", "zz_generated.markers.go", "output file")
	flag.Parse()
	if err := run(*out); err != nil {
		log.Fatal(err)
	}
}

func run(out string) error {
	apiDir, err := moduleDir("k8s.io/api")
	if err != nil {
		return err
	}
	machDir, err := moduleDir("k8s.io/apimachinery")
	if err != nil {
		return err
	}
	c := newCollector()
	err = filepath.WalkDir(apiDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if d.Name() == "testdata" {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(apiDir, path)
		importPath := "k8s.io/api"
		if rel != "." {
			importPath += "/" + filepath.ToSlash(rel)
		}
		return c.parsePackage(path, importPath, false)
	})
	if err != nil {
		return err
	}
	for _, p := range apimachineryPackages {
		if err := c.parsePackage(filepath.Join(machDir, p), "k8s.io/apimachinery/"+p, true); err != nil {
			return err
		}
	}
	src, err := c.render()
	if err != nil {
		return err
	}
	return os.WriteFile(out, src, 0o644)
}

func moduleDir(module string) (string, error) {
	b, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	if err != nil {
		return "", fmt.Errorf("locate module %s: %w", module, err)
	}
	dir := strings.TrimSpace(string(b))
	if dir == "" {
		return "", fmt.Errorf("module %s is not in the module cache; run go mod download", module)
	}
	return dir, nil
}

// field is what markergen records about one struct field.
type field struct {
	optionality string // "optional" or "required" when the marker disagrees with omitempty
	listType    string
	listMapKeys []string
	mapType     string
	defaultJSON string
}

func (f field) empty() bool {
	return f.optionality == "" && f.listType == "" && len(f.listMapKeys) == 0 && f.mapType == "" && f.defaultJSON == ""
}

// union is an x-kubernetes-unions entry: the discriminator's json name and
// the members' json names mapped to their Go names.
type union struct {
	discriminator string
	members       map[string]string
}

type collector struct {
	fields      map[string]field  // "pkg.Type.GoField"
	structTypes map[string]string // "pkg.Type" → atomic/granular
	// unions: the +union of a struct type ([0]) and the union of its
	// +unionDeprecated members ([1]); either may be nil.
	unions map[string][2]*union
	docs   map[string]string // "pkg.Type" and "pkg.Type.jsonName" → description
}

func newCollector() *collector {
	return &collector{fields: map[string]field{}, structTypes: map[string]string{}, docs: map[string]string{}, unions: map[string][2]*union{}}
}

func (c *collector) parsePackage(dir, importPath string, wantDocs bool) error {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments)
		if err != nil {
			return fmt.Errorf("parse %s: %w", name, err)
		}
		files = append(files, f)
	}
	consts := stringConstants(files)
	swaggerDocs := typesWithSwaggerDoc(files)
	for _, f := range files {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				if !ts.Name.IsExported() {
					continue
				}
				doc := ts.Doc
				if doc == nil && len(gd.Specs) == 1 {
					doc = gd.Doc
				}
				key := importPath + "." + ts.Name.Name
				lines := commentLines(doc)
				tags := extractTags(lines)
				if v := first(tags["structType"]); v != "" {
					c.structTypes[key] = v
				}
				needDocs := wantDocs && docTypes[key] && !swaggerDocs[ts.Name.Name]
				if needDocs {
					if d := description(lines); d != "" {
						c.docs[key] = d
					}
				}
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				for _, fl := range st.Fields.List {
					c.addField(key, fl, consts, needDocs)
				}
				if u := parseUnions(tags, st); u[0] != nil || u[1] != nil {
					c.unions[key] = u
				}
			}
		}
	}
	return nil
}

func (c *collector) addField(typeKey string, fl *ast.Field, consts map[string]string, needDocs bool) {
	var tag reflect.StructTag
	if fl.Tag != nil {
		if s, err := strconv.Unquote(fl.Tag.Value); err == nil {
			tag = reflect.StructTag(s)
		}
	}
	jsonTag, hasJSON := tag.Lookup("json")
	jsonName := strings.Split(jsonTag, ",")[0]
	if jsonName == "-" {
		return
	}
	omitempty := strings.HasSuffix(jsonTag, ",omitempty") || strings.Contains(jsonTag, ",omitempty,")
	inline := len(fl.Names) == 0 && hasJSON && (jsonTag == "" || strings.HasPrefix(jsonTag, ","))

	goNames := make([]string, 0, 1)
	for _, n := range fl.Names {
		goNames = append(goNames, n.Name)
	}
	if len(fl.Names) == 0 {
		goNames = append(goNames, embeddedName(fl.Type))
	}
	lines := commentLines(fl.Doc)
	tags := extractTags(lines)
	var f field
	if !inline {
		_, opt := tags["optional"]
		_, req := tags["required"]
		switch {
		case req && omitempty:
			f.optionality = "required"
		case opt && !req && !omitempty:
			f.optionality = "optional"
		}
	}
	f.listType = first(tags["listType"])
	f.listMapKeys = tags["listMapKey"]
	f.mapType = first(tags["mapType"])
	if v := first(tags["structType"]); v != "" && f.mapType == "" {
		f.mapType = v
	}
	if d, ok := tags["default"]; ok && len(d) > 0 {
		f.defaultJSON = defaultJSON(d[0], consts)
	}
	for _, n := range goNames {
		if n == "" || !ast.IsExported(n) {
			continue
		}
		if !f.empty() {
			c.fields[typeKey+"."+n] = f
		}
		if needDocs && !inline {
			name := jsonName
			if name == "" {
				name = n
			}
			if d := description(lines); d != "" {
				c.docs[typeKey+"."+name] = d
			}
		}
	}
}

// parseUnions finds the unions openapi-gen publishes for a struct: with
// +union on the type every field but the +unionDiscriminator is a member;
// otherwise the +unionDeprecated fields are.
func parseUnions(typeTags map[string][]string, st *ast.StructType) [2]*union {
	_, whole := typeTags["union"]
	byStruct := &union{members: map[string]string{}}
	byMembers := &union{members: map[string]string{}}
	for _, fl := range st.Fields.List {
		if len(fl.Names) == 0 {
			continue
		}
		jsonName := fl.Names[0].Name
		if fl.Tag != nil {
			if s, err := strconv.Unquote(fl.Tag.Value); err == nil {
				if n := strings.Split(reflect.StructTag(s).Get("json"), ",")[0]; n != "" {
					jsonName = n
				}
			}
		}
		if jsonName == "-" {
			continue
		}
		tags := extractTags(commentLines(fl.Doc))
		_, disc := tags["unionDiscriminator"]
		_, deprecated := tags["unionDeprecated"]
		if disc {
			byStruct.discriminator = jsonName
			byMembers.discriminator = jsonName
		} else if whole {
			byStruct.members[jsonName] = fl.Names[0].Name
		}
		if deprecated {
			byMembers.members[jsonName] = fl.Names[0].Name
		}
	}
	var out [2]*union
	if whole && len(byStruct.members) > 0 {
		out[0] = byStruct
	}
	if len(byMembers.members) > 0 {
		out[1] = byMembers
	}
	return out
}

// defaultJSON turns a +default value into JSON: either a JSON literal or
// ref(Const) naming a string constant of the same package.
func defaultJSON(v string, consts map[string]string) string {
	if strings.HasPrefix(v, "ref(") && strings.HasSuffix(v, ")") {
		name := strings.TrimSuffix(strings.TrimPrefix(v, "ref("), ")")
		if s, ok := consts[name]; ok {
			b, _ := json.Marshal(s)
			return string(b)
		}
		log.Printf("warning: unresolved default %s", v)
		return ""
	}
	var x any
	if err := json.Unmarshal([]byte(v), &x); err != nil {
		log.Printf("warning: default %q is not JSON: %v", v, err)
		return ""
	}
	b, _ := json.Marshal(x)
	return string(b)
}

func embeddedName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.Ident:
		return t.Name
	case *ast.StarExpr:
		return embeddedName(t.X)
	case *ast.SelectorExpr:
		return t.Sel.Name
	}
	return ""
}

func stringConstants(files []*ast.File) map[string]string {
	out := map[string]string{}
	for _, f := range files {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i >= len(vs.Values) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						if s, err := strconv.Unquote(lit.Value); err == nil {
							out[n.Name] = s
						}
					}
				}
			}
		}
	}
	return out
}

func typesWithSwaggerDoc(files []*ast.File) map[string]bool {
	out := map[string]bool{}
	for _, f := range files {
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Recv == nil || fd.Name.Name != "SwaggerDoc" || len(fd.Recv.List) != 1 {
				continue
			}
			out[embeddedName(fd.Recv.List[0].Type)] = true
		}
	}
	return out
}

func commentLines(cg *ast.CommentGroup) []string {
	if cg == nil {
		return nil
	}
	return strings.Split(strings.TrimRight(cg.Text(), "\n"), "\n")
}

// extractTags reads "+key=value" marker lines like gengo does: one value per
// line, repeated keys accumulate.
func extractTags(lines []string) map[string][]string {
	out := map[string][]string{}
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "+") {
			continue
		}
		k, v, _ := strings.Cut(l[1:], "=")
		out[k] = append(out[k], v)
	}
	return out
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// description folds doc comment lines into the text form the API
// documentation uses: paragraphs separated by a blank line, indented lines
// kept on their own line, marker and TODO lines dropped, everything after a
// "---" line dropped.
func description(lines []string) string {
	var b strings.Builder
	dropLast := func() {
		s := b.String()
		if len(s) > 0 {
			b.Reset()
			b.WriteString(s[:len(s)-1])
		}
	}
	for _, line := range lines {
		if line == "---" {
			break
		}
		line = strings.TrimRight(line, " ")
		lead := strings.TrimLeft(line, " ")
		switch {
		case line == "":
			dropLast()
			b.WriteString("\n\n")
		case strings.HasPrefix(lead, "TODO"), strings.HasPrefix(lead, "+"):
		case strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t"):
			dropLast()
			b.WriteString("\n" + line + "\n")
		default:
			b.WriteString(line + " ")
		}
	}
	return strings.TrimSpace(b.String())
}

func (c *collector) render() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by markergen from the k8s.io/api and k8s.io/apimachinery sources. DO NOT EDIT.\n\n")
	b.WriteString("package openapi\n\n")

	b.WriteString("// generatedFieldMarkers is keyed by \"<package path>.<Type>.<GoField>\".\n")
	b.WriteString("var generatedFieldMarkers = map[string]fieldMarker{\n")
	for _, k := range sortedKeys(c.fields) {
		f := c.fields[k]
		var parts []string
		switch f.optionality {
		case "optional":
			parts = append(parts, "forceOptional: true")
		case "required":
			parts = append(parts, "forceRequired: true")
		}
		if f.listType != "" {
			parts = append(parts, "listType: "+strconv.Quote(f.listType))
		}
		if len(f.listMapKeys) > 0 {
			q := make([]string, len(f.listMapKeys))
			for i, s := range f.listMapKeys {
				q[i] = strconv.Quote(s)
			}
			parts = append(parts, "listMapKeys: []string{"+strings.Join(q, ", ")+"}")
		}
		if f.mapType != "" {
			parts = append(parts, "mapType: "+strconv.Quote(f.mapType))
		}
		if f.defaultJSON != "" {
			parts = append(parts, "defaultJSON: "+strconv.Quote(f.defaultJSON))
		}
		fmt.Fprintf(&b, "%q: {%s},\n", k, strings.Join(parts, ", "))
	}
	b.WriteString("}\n\n")

	b.WriteString("// generatedStructTypes is keyed by \"<package path>.<Type>\" (+structType).\n")
	b.WriteString("var generatedStructTypes = map[string]string{\n")
	for _, k := range sortedKeys(c.structTypes) {
		fmt.Fprintf(&b, "%q: %q,\n", k, c.structTypes[k])
	}
	b.WriteString("}\n\n")

	b.WriteString("// generatedUnions is keyed by \"<package path>.<Type>\": the union of a +union\n")
	b.WriteString("// struct first, then the union of its +unionDeprecated members.\n")
	b.WriteString("var generatedUnions = map[string][2]*unionMarker{\n")
	for _, k := range sortedKeys(c.unions) {
		fmt.Fprintf(&b, "%q: {%s, %s},\n", k, renderUnion(c.unions[k][0]), renderUnion(c.unions[k][1]))
	}
	b.WriteString("}\n\n")

	b.WriteString("// generatedDocs holds descriptions of apimachinery types without a SwaggerDoc\n")
	b.WriteString("// method, keyed by \"<package path>.<Type>\" and \"<package path>.<Type>.<json name>\".\n")
	b.WriteString("var generatedDocs = map[string]string{\n")
	for _, k := range sortedKeys(c.docs) {
		fmt.Fprintf(&b, "%q: %q,\n", k, c.docs[k])
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}

func renderUnion(u *union) string {
	if u == nil {
		return "nil"
	}
	var members []string
	for _, k := range sortedKeys(u.members) {
		members = append(members, fmt.Sprintf("%q: %q", k, u.members[k]))
	}
	return fmt.Sprintf("{discriminator: %q, members: map[string]string{%s}}", u.discriminator, strings.Join(members, ", "))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
