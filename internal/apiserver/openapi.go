package apiserver

import (
	"reflect"

	"skiff.dev/skiff/internal/apiserver/openapi"
)

// openAPIKinds describes every served resource for the OpenAPI documents,
// which openapi.Service builds on first request.
func (s *Server) openAPIKinds() []openapi.Kind {
	var kinds []openapi.Kind
	for _, gv := range s.sortedGroupVersions() {
		for _, res := range s.resources[gv] {
			d := res.def
			k := openapi.Kind{
				GVK:        res.gvk,
				Type:       reflect.TypeOf(d.New()).Elem(),
				ListType:   reflect.TypeOf(d.NewList()).Elem(),
				Resource:   d.Resource,
				Namespaced: d.Namespaced,
				Verbs:      d.Verbs,
			}
			for _, sub := range subresourcesOf(d) {
				os := openapi.Subresource{Name: sub.name, Verbs: sub.verbs}
				if sub.kind != res.gvk {
					os.GVK = sub.kind
					obj, err := s.codecs.scheme.New(sub.kind)
					if err != nil {
						continue
					}
					os.Type = reflect.TypeOf(obj).Elem()
				}
				k.Subresources = append(k.Subresources, os)
			}
			kinds = append(kinds, k)
		}
	}
	return kinds
}
