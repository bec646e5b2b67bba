#!/usr/bin/env bash
# Builds the test control plane from the Go module proxy at pinned versions:
# etcd + etcdctl, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl, kubelet and kube-proxy (version-stamped; the last two for the bed's
# real node) and kwok. Binaries are cached outside the
# repository, keyed by version, and reused when present.
#
# Usage: test/cluster/build-binaries.sh        prints the binary directory
# Env:   GPUQUOTA_CACHE  cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/gpuquota)
set -euo pipefail

KUBE_VERSION=1.36.3
STAGING_VERSION=0.36.3
ETCD_VERSION=3.6.14
KWOK_VERSION=0.8.0
GO_MIN=1.26

CACHE=${GPUQUOTA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gpuquota}
BIN="$CACHE/bin-k8s-v$KUBE_VERSION-etcd-v$ETCD_VERSION-kwok-v$KWOK_VERSION"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

log() { printf 'build-binaries: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

check_go() {
	command -v go >/dev/null 2>&1 ||
		die "Go is not installed; Go >= $GO_MIN is needed to build the test control plane"
	local v
	v=$(go env GOVERSION | sed 's/^go//')
	local maj=${v%%.*} rest=${v#*.}
	local min=${rest%%.*}
	if [ "$maj" -lt 1 ] || { [ "$maj" -eq 1 ] && [ "$min" -lt 26 ]; }; then
		die "Go $v is too old; Kubernetes v$KUBE_VERSION and kwok v$KWOK_VERSION need Go >= $GO_MIN"
	fi
}

# have NAME EXPECTED VERSION-ARGS...: whether the cached binary NAME exists and
# its version output contains EXPECTED.
have() {
	local out
	[ -x "$BIN/$1" ] || return 1
	out=$("$BIN/$1" "${@:3}" 2>/dev/null) || return 1
	[[ "$out" == *"$2"* ]]
}

# The Kubernetes commands this script builds, all from one module at one
# version.
K8S_CMDS="kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy"

# k8s_have CMD: whether the cached CMD reports the pinned version.
k8s_have() {
	case "$1" in
	kubectl) have kubectl "v$KUBE_VERSION" version --client ;;
	*) have "$1" "v$KUBE_VERSION" --version ;;
	esac
}

build_k8s() {
	local missing=() c
	for c in $K8S_CMDS; do k8s_have "$c" || missing+=("$c"); done
	[ ${#missing[@]} -gt 0 ] || return 0
	log "building Kubernetes v$KUBE_VERSION: ${missing[*]} (first time: 15-30 min on 2 cores)"
	local w
	w=$(mktemp -d)
	(
		cd "$w"
		go mod init local.invalid/k8sbuild >/dev/null 2>&1
		go mod edit -go=1.26.0
		printf 'godebug default=go1.26\n' >>go.mod
		local gomod
		gomod=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" |
			sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
		[ -f "$gomod" ] || die "could not download k8s.io/kubernetes@v$KUBE_VERSION"
		awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {print $1}' "$gomod" | sort -u |
			while read -r m; do go mod edit -replace="$m=$m@v$STAGING_VERSION"; done
		local tools=() pkgs=()
		for c in "${missing[@]}"; do
			tools+=("k8s.io/kubernetes/cmd/$c@v$KUBE_VERSION")
			pkgs+=("k8s.io/kubernetes/cmd/$c")
		done
		go get -tool "${tools[@]}" >/dev/null 2>&1 || go get -tool "${tools[@]}"
		go mod tidy >/dev/null 2>&1 || true
		local ldf="-s -w" p minor
		minor=${KUBE_VERSION#*.}
		minor=${minor%%.*}
		for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
			ldf="$ldf -X '$p.gitVersion=v$KUBE_VERSION' -X '$p.gitMajor=${KUBE_VERSION%%.*}'"
			ldf="$ldf -X '$p.gitMinor=$minor' -X '$p.gitTreeState=clean'"
			ldf="$ldf -X '$p.buildDate=1970-01-01T00:00:00Z'"
		done
		mkdir -p "$BIN"
		go build -trimpath -tags=selinux,notest,grpcnotrace -ldflags="$ldf" -o "$BIN/" "${pkgs[@]}"
	)
	rm -rf "$w"
	for c in "${missing[@]}"; do k8s_have "$c" || die "$c v$KUBE_VERSION was not built"; done
}

build_etcd() {
	if have etcd "$ETCD_VERSION" --version && have etcdctl "$ETCD_VERSION" version; then
		return 0
	fi
	log "building etcd v$ETCD_VERSION"
	local w
	w=$(mktemp -d)
	(
		cd "$w"
		go mod init local.invalid/etcdbuild >/dev/null 2>&1
		go mod edit -go=1.26.0
		go get -tool "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" \
			"go.etcd.io/etcd/etcdctl/v3@v$ETCD_VERSION" >/dev/null
		go mod tidy >/dev/null 2>&1 || true
		mkdir -p "$BIN"
		go build -trimpath -ldflags="-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
		go build -trimpath -ldflags="-s -w" -o "$BIN/etcdctl" go.etcd.io/etcd/etcdctl/v3
	)
	rm -rf "$w"
}

build_kwok() {
	if have kwok "$KWOK_VERSION" --version; then
		return 0
	fi
	log "building kwok v$KWOK_VERSION"
	mkdir -p "$BIN"
	GOBIN="$BIN" GOFLAGS= go install -trimpath \
		-ldflags="-s -w -X 'sigs.k8s.io/kwok/pkg/consts.Version=v$KWOK_VERSION'" \
		"sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
}

check_go
build_etcd
build_kwok
build_k8s
echo "$BIN"
