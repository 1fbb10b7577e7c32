# Builds and releases of the exporter with the Go toolchain alone.
#   make build              ./mirrord-exporter for this machine
#   make release            linux amd64/arm64 archives, checksums and the Helm
#                           chart in dist/, for version $(VERSION)
#   make release-snapshot   the same, versioned <VERSION>-snapshot-<commit>:
#                           what CI builds on every change, publishing nothing
# The container image is built from the Dockerfile by the release workflow
# (.github/workflows/release.yml), with the same VERSION.

GO         ?= go
# The version released: the VERSION file, which the chart's version and
# appVersion follow (deploy/chartcheck checks they agree).
VERSION    ?= $(shell cat VERSION)
REVISION   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH     ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
BUILD_USER ?= $(shell id -un 2>/dev/null || echo unknown)@$(shell hostname 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y%m%d-%H:%M:%S)
PLATFORMS  ?= linux/amd64 linux/arm64
DIST       ?= dist
HELM       ?= $(GO) run helm.sh/helm/v3/cmd/helm@v3.22.0

VERSION_PKG = github.com/prometheus/common/version
LDFLAGS = -s -w \
	-X $(VERSION_PKG).Version=$(VERSION) \
	-X $(VERSION_PKG).Revision=$(REVISION) \
	-X $(VERSION_PKG).Branch=$(BRANCH) \
	-X $(VERSION_PKG).BuildUser=$(BUILD_USER) \
	-X $(VERSION_PKG).BuildDate=$(BUILD_DATE)

.PHONY: build release release-snapshot test

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o mirrord-exporter ./cmd/exporter

test:
	$(GO) test -race -count=1 -p 1 ./...

release:
	rm -rf $(DIST) && mkdir -p $(DIST)
	set -e; for platform in $(PLATFORMS); do \
		os=$${platform%/*}; arch=$${platform#*/}; \
		name=mirrord-exporter-$(VERSION).$$os-$$arch; \
		mkdir -p $(DIST)/$$name; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "$(LDFLAGS)" \
			-o $(DIST)/$$name/mirrord-exporter ./cmd/exporter; \
		cp README.md CHANGELOG.md $(DIST)/$$name/; \
		tar -C $(DIST) --owner=0 --group=0 --sort=name -czf $(DIST)/$$name.tar.gz $$name; \
		rm -r $(DIST)/$$name; \
	done
	$(HELM) package deploy/helm/mirrord-exporter --version $(VERSION) --app-version $(VERSION) --destination $(DIST)
	cd $(DIST) && sha256sum *.tar.gz *.tgz > sha256sums.txt

release-snapshot:
	$(MAKE) release VERSION=$(VERSION)-snapshot-$(shell git rev-parse --short=7 HEAD)
