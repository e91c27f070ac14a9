package lint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
)

// Object is one Kubernetes object read from a manifest, with what is
// needed to point back at its source.
type Object struct {
	// File is the path it was read from ("-" for standard input).
	File string
	// Obj is the decoded object (k8s.io/api types); nil for kinds the
	// linter does not know (custom resources), which are skipped.
	Obj                   runtime.Object
	Kind, Namespace, Name string
	// node is the object's YAML node, for line numbers.
	node *yaml.Node
}

// Line returns the 1-based line of a field path of the object
// ("spec.template.spec.containers[0].image"), or of its deepest existing
// parent when the field is absent (a missing securityContext points at
// its container); 0 if unknown.
func (o *Object) Line(path string) int {
	if o.node == nil {
		return 0
	}
	n := o.node
	line := n.Line
	for _, seg := range splitPath(path) {
		next := child(n, seg)
		if next == nil {
			break
		}
		n = next
		line = n.Line
	}
	return line
}

// child is a mapping's value for key, or a sequence's element for "[i]".
func child(n *yaml.Node, seg string) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if strings.HasPrefix(seg, "[") {
		i, err := strconv.Atoi(seg[1 : len(seg)-1])
		if n.Kind == yaml.SequenceNode && err == nil && i >= 0 && i < len(n.Content) {
			return n.Content[i]
		}
		if n.Kind != yaml.MappingNode {
			return nil
		}
		seg = seg[1 : len(seg)-1]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == seg {
			v := n.Content[i+1]
			if v.Kind == yaml.ScalarNode {
				return n.Content[i] // the key's line reads better for scalars
			}
			return v
		}
	}
	return nil
}

// splitPath splits "a.b[0].c[key.with/dots]" into a, b, [0], c, [key.with/dots].
func splitPath(path string) []string {
	var segs []string
	for len(path) > 0 {
		switch path[0] {
		case '.':
			path = path[1:]
		case '[':
			end := strings.IndexByte(path, ']')
			if end < 0 {
				return append(segs, path)
			}
			segs = append(segs, path[:end+1])
			path = path[end+1:]
		default:
			end := strings.IndexAny(path, ".[")
			if end < 0 {
				end = len(path)
			}
			segs = append(segs, path[:end])
			path = path[end:]
		}
	}
	return segs
}

// ErrInput is wrapped by every error about unreadable or invalid input.
var ErrInput = errors.New("invalid input")

// Load reads manifests: files (YAML with any number of documents, or
// JSON), "-" for standard input, and directories, walked for *.yaml,
// *.yml and *.json. List kinds are expanded to their items. Errors wrap
// ErrInput.
func Load(paths []string, stdin io.Reader) ([]*Object, error) {
	var out []*Object
	for _, p := range paths {
		if p == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("%w: read standard input: %v", ErrInput, err)
			}
			objs, err := Parse("-", data)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
			continue
		}
		files, err := manifestFiles(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrInput, err)
			}
			objs, err := Parse(f, data)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
	}
	return out, nil
}

func manifestFiles(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInput, err)
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, path)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInput, err)
	}
	return files, nil
}

// Parse decodes the objects of one file's contents.
func Parse(file string, data []byte) ([]*Object, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []*Object
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInput, file, err)
		}
		if len(doc.Content) == 0 || doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null" {
			continue // an empty document
		}
		objs, err := decodeNode(file, doc.Content[0])
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
}

func decodeNode(file string, n *yaml.Node) ([]*Object, error) {
	var m map[string]any
	if err := n.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %s:%d: not an object: %v", ErrInput, file, n.Line, err)
	}
	kind, _ := m["kind"].(string)
	apiVersion, _ := m["apiVersion"].(string)
	if kind == "" || apiVersion == "" {
		return nil, fmt.Errorf("%w: %s:%d: an object needs apiVersion and kind", ErrInput, file, n.Line)
	}
	if strings.HasSuffix(kind, "List") {
		if items := child(n, "items"); items != nil && items.Kind == yaml.SequenceNode {
			var out []*Object
			for _, it := range items.Content {
				objs, err := decodeNode(file, it)
				if err != nil {
					return nil, err
				}
				out = append(out, objs...)
			}
			return out, nil
		}
	}
	o := &Object{File: file, Kind: kind, node: n}
	if md, ok := m["metadata"].(map[string]any); ok {
		o.Name, _ = md["name"].(string)
		o.Namespace, _ = md["namespace"].(string)
	}
	js, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %s:%d: %v", ErrInput, file, n.Line, err)
	}
	obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(js, nil, nil)
	switch {
	case runtime.IsNotRegisteredError(err):
		return []*Object{o}, nil // a custom resource: nothing to check
	case err != nil:
		return nil, fmt.Errorf("%w: %s:%d: %s %q: %v", ErrInput, file, n.Line, kind, o.Name, err)
	}
	o.Obj = obj
	return []*Object{o}, nil
}
