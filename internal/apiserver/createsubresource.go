package apiserver

import (
	"net/http"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"skiff.dev/skiff/internal/registry"
)

func createSubresource(d *registry.Resource, name string) *registry.CreateSubresource {
	for i := range d.CreateSubresources {
		if d.CreateSubresources[i].Name == name {
			return &d.CreateSubresources[i]
		}
	}
	return nil
}

// serveCreateSubresource serves a registry.CreateSubresource: POST only,
// the body decoded as the subresource's kind, 201 with the answer.
func (s *Server) serveCreateSubresource(w http.ResponseWriter, r *http.Request, res *resource, sub *registry.CreateSubresource, info requestInfo) {
	if info.Verb != "create" {
		s.writeError(w, r, errMethodNotSupported(schema.GroupResource{Group: res.gr.Group, Resource: res.gr.Resource + "/" + sub.Name}, info.Verb))
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	obj := sub.New()
	if err := s.decodeInto(r, body, obj, sub.Kind); err != nil {
		s.writeError(w, r, err)
		return
	}
	dryRun := slices.Contains(r.URL.Query()["dryRun"], metav1.DryRunAll)
	if err := s.admitSubresourceCreate(r.Context(), res, sub.Name, info.Namespace, info.Name, obj, sub.Kind, dryRun); err != nil {
		s.writeError(w, r, err)
		return
	}
	out, warnings, err := sub.Create(r.Context(), info.Namespace, info.Name, obj)
	addWarnings(w, warnings)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out.GetObjectKind().SetGroupVersionKind(sub.Kind)
	format, ok := negotiateOutput(r.Header.Get("Accept"), false)
	if !ok {
		format = outputFormat{mediaType: mediaJSON}
	}
	s.writeObject(w, r, http.StatusCreated, format, out)
}
