package apiserver

import (
	"fmt"
	"mime"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1beta1 "k8s.io/apimachinery/pkg/apis/meta/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// Media types the server reads and writes.
const (
	mediaJSON     = "application/json"
	mediaYAML     = "application/yaml"
	mediaProtobuf = "application/vnd.kubernetes.protobuf"

	mediaJSONPatch      = "application/json-patch+json"
	mediaMergePatch     = "application/merge-patch+json"
	mediaStrategicPatch = "application/strategic-merge-patch+json"
	mediaApplyPatch     = "application/apply-patch+yaml"
)

// codecs holds the serializers for every built-in type. One instance is
// shared by all requests; serializers are safe for concurrent use.
type codecs struct {
	scheme     *runtime.Scheme
	json       *json.Serializer
	jsonStrict *json.Serializer
	yaml       *json.Serializer
	yamlStrict *json.Serializer
	proto      *protobuf.Serializer
	// protoRaw encodes watch event frames' inner messages.
	protoRaw *protobuf.RawSerializer
	// jsonStream and protoStream write a list one item at a time
	// (listencode.go); for anything else they are json and proto.
	jsonStream  *json.Serializer
	protoStream *protobuf.Serializer
}

// newScheme registers every k8s.io/api type plus meta.k8s.io's Table,
// PartialObjectMetadata and WatchEvent.
func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(fmt.Sprintf("register built-in types: %v", err)) // broken build, not input
	}
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	if err := metav1.AddMetaToScheme(s); err != nil {
		panic(fmt.Sprintf("register meta types: %v", err))
	}
	if err := metav1beta1.AddMetaToScheme(s); err != nil {
		panic(fmt.Sprintf("register meta v1beta1 types: %v", err))
	}
	return s
}

func newCodecs(s *runtime.Scheme) *codecs {
	mk := func(yaml, strict bool) *json.Serializer {
		return json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Yaml: yaml, Strict: strict})
	}
	return &codecs{
		scheme:     s,
		json:       mk(false, false),
		jsonStrict: mk(false, true),
		yaml:       mk(true, false),
		yamlStrict: mk(true, true),
		proto:      protobuf.NewSerializer(s, s),
		protoRaw:   protobuf.NewRawSerializer(s, s),
		jsonStream: json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s,
			json.SerializerOptions{StreamingCollectionsEncoding: true}),
		protoStream: protobuf.NewSerializerWithOptions(s, s, protobuf.SerializerOptions{StreamingCollectionsEncoding: true}),
	}
}

// outputFormat is what a client asked for in its Accept header.
type outputFormat struct {
	mediaType string // mediaJSON, mediaYAML or mediaProtobuf
	// as is "", "Table" or "PartialObjectMetadata"/"PartialObjectMetadataList".
	as string
	// asVersion is the meta.k8s.io version requested with as=, v1 or v1beta1.
	asVersion string
}

func (o outputFormat) encoder(c *codecs) runtime.Encoder {
	switch o.mediaType {
	case mediaYAML:
		return c.yaml
	case mediaProtobuf:
		return c.proto
	}
	return c.json
}

// negotiateOutput picks the first acceptable media range of the Accept
// header. It reports false when nothing offered can be served (406).
func negotiateOutput(accept string, allowAs bool) (outputFormat, bool) {
	if strings.TrimSpace(accept) == "" {
		return outputFormat{mediaType: mediaJSON}, true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		var f outputFormat
		switch mt {
		case mediaJSON, "*/*", "application/*", "application/json;stream=watch":
			f.mediaType = mediaJSON
		case mediaYAML:
			f.mediaType = mediaYAML
		case mediaProtobuf:
			f.mediaType = mediaProtobuf
		default:
			continue
		}
		if as := params["as"]; as != "" {
			if !allowAs || params["g"] != "meta.k8s.io" {
				continue
			}
			v := params["v"]
			if v != "v1" && v != "v1beta1" {
				continue
			}
			switch as {
			case "Table", "PartialObjectMetadata", "PartialObjectMetadataList":
			default:
				continue
			}
			f.as, f.asVersion = as, v
		}
		return f, true
	}
	return outputFormat{}, false
}

// decoderFor returns the decoder for a request body's Content-Type.
// strict decoders reject unknown and duplicate fields.
func (c *codecs) decoderFor(contentType string, strict bool) (runtime.Decoder, string, bool) {
	mt := mediaJSON
	if contentType != "" {
		parsed, _, err := mime.ParseMediaType(contentType)
		if err != nil {
			return nil, "", false
		}
		mt = parsed
	}
	switch mt {
	case mediaJSON:
		if strict {
			return c.jsonStrict, mt, true
		}
		return c.json, mt, true
	case mediaYAML, "application/x-yaml", "text/yaml":
		if strict {
			return c.yamlStrict, mediaYAML, true
		}
		return c.yaml, mediaYAML, true
	case mediaProtobuf:
		return c.proto, mt, true
	}
	return nil, mt, false
}

func writeRaw(w http.ResponseWriter, code int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
