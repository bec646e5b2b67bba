# gpuquota - GPU quotas, priority tiers and GPU-hour budgets for Kubernetes.
# `make help` lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

CC      ?= cc
PKGS    := libcurl yajl yaml-0.1 openssl libevent libevent_openssl libevent_pthreads
# The test bed's real node (test/cluster/node.sh): its container runtime, the
# CNI plugins, kube-proxy's tools, and what its images are built from.
# (Defined before DEB_PKGS: := expands at once.)
NODE_DEB_PKGS := containerd runc containernetworking-plugins iptables conntrack \
            busybox-static buildah file
DEB_PKGS := libcurl4-openssl-dev libyajl-dev libyaml-dev libssl-dev libevent-dev \
            libcmocka-dev pkg-config openssl curl prometheus jq \
            $(NODE_DEB_PKGS)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla -Wstrict-prototypes
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE $(WARN) -Icontroller/src \
               -DGQ_VERSION='"$(VERSION)"' $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
CFLAGS  ?= -O2 -g
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

SRCS    := $(filter-out controller/src/main.c,$(wildcard controller/src/*.c))
HDRS    := $(wildcard controller/src/*.h)
OBJS    := $(patsubst controller/src/%.c,build/obj/%.o,$(SRCS))
SOBJS   := $(patsubst controller/src/%.c,build/san/%.o,$(SRCS))
UNIT_SRCS := $(wildcard test/unit/test_*.c)
UNIT_BINS := $(patsubst test/unit/%.c,build/unit/%,$(UNIT_SRCS))

# The tests' reference implementations (test/oracle/, e.g. the tree decoder
# of AdmissionReviews): linked into the unit and fuzz binaries, never into
# the controller, whose sources cannot include their headers.
ORACLE_SRCS := $(wildcard test/oracle/*.c)
ORACLE_HDRS := $(wildcard test/oracle/*.h)
TEST_INC    := -Itest/oracle
SORACLE     := $(patsubst test/oracle/%.c,build/san/oracle/%.o,$(ORACLE_SRCS))

# Each object's header dependencies, as the compiler saw them (-MMD); the
# test and fuzz binaries, built from one command each, depend on every header.
-include $(wildcard build/obj/*.d build/san/*.d build/san/oracle/*.d build/libfuzzer/obj/*.d \
                    build/libfuzzer/obj/oracle/*.d)

KUBECONFIG_LOCAL := .cluster/kubeconfig
KUBECTL := .cluster/bin/kubectl --kubeconfig $(KUBECONFIG_LOCAL)

.SECONDARY:

.PHONY: help deps build libs-check unit e2e e2e-faults test binaries cluster-up cluster-down cluster-status \
        run demo bench bench-scale fmt fmt-check clean clean-cache fuzz fuzz-deps image image-deps

help: ## List the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z0-9_-]+:.*## /{printf "  %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

deps: ## Install the Debian build/test packages that are missing (apt-get)
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	  case " $$missing " in *" prometheus "*) \
	    echo "deps: stopping the system Prometheus service the package started (the test bed runs its own)"; \
	    $$SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true;; esac; \
	  case " $$missing " in *" containerd "*) \
	    echo "deps: stopping the system containerd service the package started (the test bed's real node runs its own)"; \
	    $$SUDO systemctl disable --now containerd >/dev/null 2>&1 || true;; esac; \
	fi

build: libs-check bin/gpuquota-controller ## Build bin/gpuquota-controller (make deps installs the packages it needs)

# The build itself never installs anything: it only says what is missing.
libs-check:
	@pkg-config --exists $(PKGS) 2>/dev/null || { \
	  echo "build: development packages missing ($(PKGS)); run make deps" >&2; exit 1; }

bin/gpuquota-controller: build/obj/main.o $(OBJS)
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

build/obj/%.o: controller/src/%.c
	@mkdir -p build/obj
	@echo "  CC      $<"
	@$(CC) $(CFLAGS_BASE) $(CFLAGS) -MMD -MP -c -o $@ $<

build/san/%.o: controller/src/%.c
	@mkdir -p build/san
	@echo "  CC-SAN  $<"
	@$(CC) $(CFLAGS_BASE) -O1 -g $(SAN) -MMD -MP -c -o $@ $<

build/san/oracle/%.o: test/oracle/%.c
	@mkdir -p build/san/oracle
	@echo "  CC-SAN  $<"
	@$(CC) $(CFLAGS_BASE) $(TEST_INC) -O1 -g $(SAN) -MMD -MP -c -o $@ $<

build/unit/%: test/unit/%.c $(SOBJS) $(SORACLE) $(HDRS) $(ORACLE_HDRS)
	@mkdir -p build/unit
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS_BASE) $(TEST_INC) -O1 -g $(SAN) -o $@ $< $(SOBJS) $(SORACLE) $(LIBS) -lcmocka

FUZZ_SRCS := $(wildcard test/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst test/fuzz/%.c,build/fuzz/%,$(FUZZ_SRCS))

build/fuzz/%: test/fuzz/%.c test/fuzz/standalone.c $(SOBJS) $(SORACLE) $(HDRS) $(ORACLE_HDRS)
	@mkdir -p build/fuzz
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS_BASE) $(TEST_INC) -O1 -g $(SAN) -o $@ test/fuzz/standalone.c $< $(SOBJS) \
	  $(SORACLE) $(LIBS)

# libFuzzer builds of the same targets (make fuzz): clang from Debian, the
# controller sources instrumented with fuzzer-no-link, each target linked
# with libFuzzer's main.
FUZZ_CC   ?= clang
FUZZ_TIME ?= 60
FUZZ_SAN  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FOBJS     := $(patsubst controller/src/%.c,build/libfuzzer/obj/%.o,$(SRCS))
FORACLE   := $(patsubst test/oracle/%.c,build/libfuzzer/obj/oracle/%.o,$(ORACLE_SRCS))
FUZZ_LF_BINS := $(patsubst test/fuzz/%.c,build/libfuzzer/%,$(FUZZ_SRCS))

build/libfuzzer/obj/%.o: controller/src/%.c
	@mkdir -p build/libfuzzer/obj
	@echo "  CC-FUZZ $<"
	@$(FUZZ_CC) $(CFLAGS_BASE) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

build/libfuzzer/obj/oracle/%.o: test/oracle/%.c
	@mkdir -p build/libfuzzer/obj/oracle
	@echo "  CC-FUZZ $<"
	@$(FUZZ_CC) $(CFLAGS_BASE) $(TEST_INC) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link -MMD -MP \
	  -c -o $@ $<

build/libfuzzer/fuzz_%: test/fuzz/fuzz_%.c $(FOBJS) $(FORACLE) $(HDRS) $(ORACLE_HDRS)
	@echo "  LINK    $@"
	@$(FUZZ_CC) $(CFLAGS_BASE) $(TEST_INC) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< $(FOBJS) \
	  $(FORACLE) $(LIBS)

fuzz-deps: deps
	@if ! command -v $(FUZZ_CC) >/dev/null 2>&1 || \
	    ! ls "$$($(FUZZ_CC) -print-resource-dir 2>/dev/null)"/lib/linux/libclang_rt.fuzzer-*.a \
	      >/dev/null 2>&1; then \
	  echo "installing: clang (libFuzzer)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq clang >/dev/null; \
	fi

image-deps: deps
	@if ! command -v buildah >/dev/null 2>&1; then \
	  echo "installing: buildah"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq buildah >/dev/null; \
	fi

image: image-deps bin/gpuquota-controller ## Container image as an OCI archive, no registry needed (build/image/; last lines: image, archive)
	@image/build.sh bin/gpuquota-controller

fuzz: fuzz-deps ## libFuzzer: run every target FUZZ_TIME s (default 60) on a copy of its corpus; FUZZ_TARGETS=name... picks some
	@$(MAKE) --no-print-directory $(if $(FUZZ_TARGETS),$(addprefix build/libfuzzer/fuzz_,$(FUZZ_TARGETS)),$(FUZZ_LF_BINS))
	@FUZZ_TIME=$(FUZZ_TIME) test/fuzz/run-libfuzzer.sh $(FUZZ_TARGETS)

unit: deps $(UNIT_BINS) $(FUZZ_BINS) ## Run the cmocka unit tests and replay the fuzz corpora (ASan/UBSan)
	@rc=0; for t in $(UNIT_BINS); do \
	  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $$t || rc=1; done; \
	for f in $(FUZZ_BINS); do c=test/fuzz/corpus/$${f#build/fuzz/fuzz_}; \
	  if [ -d $$c ]; then ASAN_OPTIONS=detect_leaks=1 $$f $$c >/dev/null 2>&1 \
	    && echo "fuzz corpus replay $$c: ok" || { echo "fuzz corpus replay $$c: FAILED"; rc=1; }; fi; done; \
	exit $$rc

binaries: ## Build (or reuse from the cache) the pinned control-plane binaries
	@test/cluster/build-binaries.sh

cluster-up: deps ## Start the local control plane, simulated GPU nodes, a real node and Prometheus (.cluster/; GQ_REAL_NODE=0: no real node)
	@test/cluster/cluster-up.sh

cluster-down: ## Stop the local cluster (and a test cluster kept by KEEP_CLUSTER=1) and remove their state
	@test/cluster/cluster-down.sh
	@if [ -d .cluster-test ]; then CLUSTER_DIR=$(CURDIR)/.cluster-test test/cluster/cluster-down.sh; fi

cluster-status: ## Show the local cluster's processes and nodes
	@test/cluster/cluster-status.sh

e2e: deps build ## Run the e2e suite on its own cluster (.cluster-test/, ports +100; never the demo's)
	@test/e2e/run.sh

e2e-faults: deps build ## Only the ledger fault-injection e2e test; FAULT_ROUNDS=N rounds (default 1), FAULT_SEED=S replays timings
	@E2E_FILTER=test_faults test/e2e/run.sh

test: ## Unit tests, then the e2e suite (cluster stopped afterwards unless KEEP_CLUSTER=1)
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory e2e

run: build cluster-up ## Run the controller in the foreground against .cluster/kubeconfig (webhook on 127.0.0.1:19443)
	@$(KUBECTL) apply --server-side -f crds/gpuquota.io_gputeamallocations.yaml >/dev/null
	@$(KUBECTL) apply --server-side -f manifests/namespace.yaml >/dev/null
	@test/cluster/webhook-local.sh "$(KUBECTL)" 19443
	bin/gpuquota-controller run --kubeconfig $(KUBECONFIG_LOCAL) \
	  --metrics-bind-address 127.0.0.1:18080 --health-probe-bind-address 127.0.0.1:18081 \
	  --webhook-bind-address 127.0.0.1:19443 --webhook-hosts 127.0.0.1

demo: deps ## Local GPU cluster + CRD + example teams + controller, then show the result (quotas, budgets, a MIG pool re-partitioned live)
	@examples/demo.sh

bench: deps ## Webhook throughput and latency vs nginx over TLS keep-alive (bench/results/webhook.json)
	@bench/run.sh

bench-scale: deps build ## Controller at scale on its own cluster (ports +700): catch-up, RSS, steady state, P2, ledger (bench/results/scale.json); N= pods (50000), TEAMS= (1000)
	@$(if $(N),N=$(N)) $(if $(TEAMS),TEAMS=$(TEAMS)) bench/scale.sh

fmt: ## Format the C sources with clang-format
	clang-format -i controller/src/*.[ch] test/unit/*.c test/fuzz/*.c test/oracle/*.[ch] bench/*.c

fmt-check: ## Check the C sources are formatted
	clang-format --dry-run --Werror controller/src/*.[ch] test/unit/*.c test/fuzz/*.c \
	  test/oracle/*.[ch] bench/*.c

clean: ## Remove build outputs
	rm -rf build bin

clean-cache: ## Remove the cached control-plane binaries (Go caches: go clean -cache -modcache)
	rm -rf "$${GPUQUOTA_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/gpuquota}"
