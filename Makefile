# Skiff's build and test entry points. `make test` is the README's test
# command and what CI runs.
GO ?= go
KUBE_VERSION := v1.37.2
BIN := $(CURDIR)/bin

.PHONY: build tools kubectl helm test test-short bench fmt vet

build:
	$(GO) build -o $(BIN)/skiff ./cmd/skiff

# The real kubectl and helm, built from their Go modules in tools/ (kept
# out of the product's go.mod); kubectl stamped with the version it is.
tools: kubectl helm

helm:
	cd tools && $(GO) build -o $(BIN)/helm helm.sh/helm/v4/cmd/helm

kubectl:
	cd tools && $(GO) build -o $(BIN)/kubectl \
		-ldflags "-X k8s.io/client-go/pkg/version.gitVersion=$(KUBE_VERSION) -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=37 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37" \
		./kubectl

# Small images for machines without a registry (busybox with every applet,
# a static Go HTTP server), as OCI archives: copy them to
# <data-dir>/agent/images/ or load them with `skiff image import`.
.PHONY: images
images:
	$(GO) run ./test/images -o $(BIN)/images

# Everything: unit tests, the storage conformance suite on bolt and on a
# real etcd, and the end-to-end tests that drive the built binary with the
# real kubectl.
test: build tools
	SKIFF_BIN=$(BIN)/skiff KUBECTL_BIN=$(BIN)/kubectl HELM_BIN=$(BIN)/helm $(GO) test -count=1 -timeout 40m ./...

test-short:
	$(GO) test -short -count=1 ./...

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 2x ./internal/storage/... ./internal/apiserver/...

vet:
	$(GO) vet ./...
	cd tools && $(GO) vet ./...
