package apiserver

import (
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"skiff.dev/skiff/internal/registry"
)

var defaultColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "Created At", Type: "date", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
}

// convertAs turns an object or list into the Table or
// PartialObjectMetadata(List) the client asked for with as=.
// withColumns is false for watch events after the first, as upstream.
func (s *Server) convertAs(r *http.Request, res *resource, out outputFormat, obj runtime.Object, withColumns bool) (runtime.Object, error) {
	gvMeta := "meta.k8s.io/" + out.asVersion
	if _, isStatus := obj.(*metav1.Status); isStatus {
		return obj, nil
	}
	switch out.as {
	case "PartialObjectMetadata", "PartialObjectMetadataList":
		if meta.IsListType(obj) {
			items, err := meta.ExtractList(obj)
			if err != nil {
				return nil, err
			}
			list := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: gvMeta, Kind: "PartialObjectMetadataList"}}
			if lm, err := meta.ListAccessor(obj); err == nil {
				list.ResourceVersion, list.Continue, list.RemainingItemCount = lm.GetResourceVersion(), lm.GetContinue(), lm.GetRemainingItemCount()
			}
			for _, it := range items {
				list.Items = append(list.Items, *partialMeta(it, gvMeta))
			}
			return list, nil
		}
		return partialMeta(obj, gvMeta), nil
	}

	table := &metav1.Table{TypeMeta: metav1.TypeMeta{APIVersion: gvMeta, Kind: "Table"}}
	conv, _ := res.def.Strategy.(registry.TableConvertor)
	if withColumns {
		if conv != nil {
			table.ColumnDefinitions = conv.ColumnDefinitions()
		} else {
			table.ColumnDefinitions = defaultColumns
		}
	}
	include := r.URL.Query().Get("includeObject")
	items := []runtime.Object{obj}
	if meta.IsListType(obj) {
		var err error
		if items, err = meta.ExtractList(obj); err != nil {
			return nil, err
		}
		if lm, err := meta.ListAccessor(obj); err == nil {
			table.ResourceVersion, table.Continue, table.RemainingItemCount = lm.GetResourceVersion(), lm.GetContinue(), lm.GetRemainingItemCount()
		}
	} else if acc, err := meta.Accessor(obj); err == nil {
		table.ResourceVersion = acc.GetResourceVersion()
	}
	table.Rows = make([]metav1.TableRow, 0, len(items))
	for _, it := range items {
		row := metav1.TableRow{}
		if conv != nil {
			row.Cells = conv.Row(it)
		} else {
			acc := objectMeta(it)
			row.Cells = []interface{}{acc.GetName(), acc.GetCreationTimestamp().UTC().Format(time.RFC3339)}
		}
		switch include {
		case "None":
		case "Object":
			row.Object = runtime.RawExtension{Object: it}
		default:
			row.Object = runtime.RawExtension{Object: partialMeta(it, gvMeta)}
		}
		table.Rows = append(table.Rows, row)
	}
	return table, nil
}

func partialMeta(obj runtime.Object, gvMeta string) *metav1.PartialObjectMetadata {
	pm := meta.AsPartialObjectMetadata(objectMeta(obj))
	pm.TypeMeta = metav1.TypeMeta{APIVersion: gvMeta, Kind: "PartialObjectMetadata"}
	return pm
}
