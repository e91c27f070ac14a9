// Package openapi builds the OpenAPI documents the API server publishes at
// /openapi/v2 (Swagger 2.0, one document) and /openapi/v3 (OpenAPI 3.0, one
// document per group-version plus a discovery index), and serves them.
//
// Upstream generates these documents from comment markers with openapi-gen
// and a restful route table. Skiff has neither: schemas come from reflection
// over the k8s.io/api Go types, descriptions from their generated SwaggerDoc
// methods, definition names from their generated OpenAPIModelName methods,
// and the facts only comments carry (+optional/+required, +listType,
// +listMapKey, +mapType, +structType, +default) from a table markergen
// extracts from the k8s.io/api sources (zz_generated.markers.go; regenerate
// with go generate after bumping k8s.io/api).
//
// The documents matter to clients in these ways:
//   - kubectl explain reads the v3 document of the kind's group-version and
//     finds the schema by its x-kubernetes-group-version-kind extension;
//   - kubectl apply (client-side) looks up the PATCH operation of the kind in
//     the v3 paths, and if it accepts application/strategic-merge-patch+json
//     builds the patch from x-kubernetes-patch-merge-key/-strategy;
//   - kubectl's --validate looks for the fieldValidation query parameter on
//     that PATCH operation and, when present, leaves validation to the server;
//   - server-side apply needs x-kubernetes-list-type and friends (see
//     Definitions, which feeds managedfields.NewTypeConverter).
//
// Serve them with Service, which builds each document on its first request
// (tens to a hundred-odd milliseconds each for sixty kinds) and caches it:
//
//	mux.Handle("/openapi/", openapi.NewService(kinds, logger))
//
// BuildV2, BuildV3 and BuildV3Index produce the same bytes for callers that
// serve them another way; Definitions gives server-side apply its schemas.
package openapi

//go:generate go run ./internal/markergen -o zz_generated.markers.go
