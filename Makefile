# kommerce Makefile. `make help` lists the targets.
#
# Tools are pinned here and installed into ~/.cache/kommerce/tools (linked from ./bin),
# so a fresh clone on a machine that built them once reuses them.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

MODULE        := github.com/kommerce/kommerce
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT        ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE          ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS       := -s -w -X $(MODULE)/internal/version.Version=$(VERSION) -X $(MODULE)/internal/version.Commit=$(COMMIT) -X $(MODULE)/internal/version.Date=$(DATE)
IMG           ?= kommerce:$(VERSION)

CACHE_DIR     ?= $(HOME)/.cache/kommerce
TOOLS_DIR     := $(CACHE_DIR)/tools
LOCALBIN      := $(CURDIR)/bin

## Tool versions (each builds with Go 1.26).
GOLANGCI_LINT_VERSION   ?= v2.15.0
CONTROLLER_TOOLS_VERSION ?= v0.23.0
SQLC_VERSION            ?= v1.31.1
KUSTOMIZE_VERSION       ?= v5.8.1
CRANE_VERSION           ?= v0.22.1
HELM_VERSION            ?= v4.3.2
# promtool of the Prometheus Go module (module v0.316.0 is Prometheus 3.16): unit-tests
# the chart's alerting rules (hack/e2e/promtool.sh).
PROMTOOL_VERSION        ?= v0.316.0

GOLANGCI_LINT   := $(LOCALBIN)/golangci-lint
CONTROLLER_GEN  := $(LOCALBIN)/controller-gen
SQLC            := $(LOCALBIN)/sqlc
KUSTOMIZE       := $(LOCALBIN)/kustomize
CRANE           := $(LOCALBIN)/crane
HELM            := $(LOCALBIN)/helm
PROMTOOL        := $(LOCALBIN)/promtool

# Packages under test; the race detector is on by default (RACE= to turn it off).
PKGS   ?= ./...
RACE   ?= -race
GOTEST_FLAGS ?=

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: fmt
fmt: ## Format Go code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint (pinned).
	$(GOLANGCI_LINT) run ./...

.PHONY: generate
generate: ## Generate code: deepcopy (controller-gen), sqlc queries.
	@hack/generate.sh generate

.PHONY: manifests
manifests: ## Generate CRDs and RBAC from the API types and markers.
	@hack/generate.sh manifests

.PHONY: verify-gen
verify-gen: ## Regenerate everything and fail if the committed files differ.
	@hack/generate.sh verify

.PHONY: test-unit
test-unit: ## Run the tests that need no service (services are skipped, not faked).
	go test -count=1 $(GOTEST_FLAGS) ./...

.PHONY: test
test: services-up verify-gen vet ## Start every service, run all tests and hack/e2e scripts; fails on a skip; summary last.
	@hack/test.sh $(RACE) $(GOTEST_FLAGS) $(PKGS)

##@ Build

.PHONY: build
build: ## Build bin/kommerce.
	go build -trimpath -ldflags "$(LDFLAGS)" -o $(LOCALBIN)/kommerce ./cmd/kommerce

.PHONY: run
run: build ## Start the platform locally on embedded defaults and print what to try.
	@hack/run.sh

.PHONY: image
image: crane ## Build the image without a Docker daemon into bin/kommerce-image.tar (kommerce.local/kommerce:$(VERSION)).
	@VERSION=$(VERSION) COMMIT=$(COMMIT) DATE=$(DATE) CRANE=$(CRANE) hack/image.sh build bin/kommerce-image.tar

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg DATE=$(DATE) -t $(IMG) .

##@ Services

.PHONY: services-up
services-up: ## Install (first time) and start PostgreSQL, Redis, Kafka, Elasticsearch, envtest, stripe-mock, Jaeger.
	@hack/services.sh up

.PHONY: services-down
services-down: ## Stop every service.
	@hack/services.sh down

.PHONY: services-status
services-status: ## Show what runs and how to reach it.
	@hack/services.sh status

.PHONY: cluster-up cluster-down cluster-status test-cluster
cluster-up: ## Build (first time) and start a real single-node Kubernetes cluster (root).
	@hack/cluster.sh up
cluster-down: ## Stop the cluster and remove everything it put on the machine.
	@hack/cluster.sh down
cluster-status: ## Show every cluster component and the node.
	@hack/cluster.sh status
test-cluster: ## Prove hack/cluster.sh: failures, pods, DNS, NetworkPolicy, host services, a clean down (no cluster may run).
	@hack/cluster_test.sh

##@ Tools

$(LOCALBIN):
	@mkdir -p $(LOCALBIN)

# go-install-tool installs a Go tool at a pinned version into the cache and links it
# into ./bin: $(1) link, $(2) package, $(3) version.
define go-install-tool
@[ -x "$(TOOLS_DIR)/$(notdir $(1))-$(3)" ] || { \
	echo "installing $(2)@$(3) into $(TOOLS_DIR)"; \
	mkdir -p "$(TOOLS_DIR)/tmp"; \
	GOBIN="$(TOOLS_DIR)/tmp" go install $(2)@$(3); \
	mv "$(TOOLS_DIR)/tmp/$(notdir $(1))" "$(TOOLS_DIR)/$(notdir $(1))-$(3)"; }
@ln -sf "$(TOOLS_DIR)/$(notdir $(1))-$(3)" "$(1)"
endef

.PHONY: golangci-lint controller-gen sqlc kustomize crane helm promtool
golangci-lint: | $(LOCALBIN) ## Install golangci-lint.
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))
controller-gen: | $(LOCALBIN) ## Install controller-gen.
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))
sqlc: | $(LOCALBIN) ## Install sqlc.
	$(call go-install-tool,$(SQLC),github.com/sqlc-dev/sqlc/cmd/sqlc,$(SQLC_VERSION))
kustomize: | $(LOCALBIN) ## Install kustomize.
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))
crane: | $(LOCALBIN) ## Install crane (builds images without a Docker daemon).
	$(call go-install-tool,$(CRANE),github.com/google/go-containerregistry/cmd/crane,$(CRANE_VERSION))
helm: | $(LOCALBIN) ## Install helm.
	$(call go-install-tool,$(HELM),helm.sh/helm/v4/cmd/helm,$(HELM_VERSION))
promtool: | $(LOCALBIN) ## Install promtool (unit tests of the chart's Prometheus rules).
	$(call go-install-tool,$(PROMTOOL),github.com/prometheus/prometheus/cmd/promtool,$(PROMTOOL_VERSION))
