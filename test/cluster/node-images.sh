#!/usr/bin/env bash
# Builds the two images the bed's real node needs besides the controller's,
# without a registry, as OCI archives (buildah, like image/build.sh), reused
# when present:
#   localhost/gpuquota-pause:<kube version>   the pod sandbox: the pause
#       program of the pinned Kubernetes source tree (build/pause/linux/pause.c,
#       from the Go module cache that build-binaries.sh filled), compiled
#       static here
#   localhost/gpuquota-testbox:<busybox version>-curl<curl version>  for e2e
#       test pods: Debian's busybox-static (sh, sleep, httpd, nc ...) and curl
#       with the shared libraries it loads (a TLS client that verifies
#       certificates; busybox's cannot agree on a cipher with Go's defaults)
#
# Usage: test/cluster/node-images.sh KUBE_VERSION
# Prints "REF ARCHIVE" lines, one per image. Env: NODE_IMAGE_DIR (default
# build/node-images).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
kube=${1:?usage: node-images.sh KUBE_VERSION}
dir=${NODE_IMAGE_DIR:-$ROOT/build/node-images}
store=(--root "$dir/storage" --runroot "$dir/run" --storage-driver vfs)
log() { printf 'node-images: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
mkdir -p "$dir"

# image REF ARCHIVE ROOTFS ENTRYPOINT-JSON: commits ROOTFS as a one-layer
# image from scratch and writes it as an OCI archive (kept if present).
image() {
	local ref=$1 archive=$2 rootfs=$3 entry=$4 ctr
	ctr=$(buildah "${store[@]}" from --quiet scratch)
	buildah "${store[@]}" copy --quiet "$ctr" "$rootfs/" / >/dev/null
	buildah "${store[@]}" config --entrypoint "$entry" --cmd '[]' \
		--label org.opencontainers.image.title="${ref%%:*}" "$ctr"
	buildah "${store[@]}" commit --quiet --format oci "$ctr" "$ref" >/dev/null
	buildah "${store[@]}" rm "$ctr" >/dev/null
	rm -f "$archive.tmp"
	buildah "${store[@]}" push --quiet "$ref" "oci-archive:$archive.tmp:$ref" >/dev/null
	mv "$archive.tmp" "$archive"
	log "built $ref ($(du -h "$archive" | cut -f1))"
}

pause_ref="localhost/gpuquota-pause:v$kube"
pause_tar="$dir/gpuquota-pause-v$kube.oci.tar"
if ! [ -s "$pause_tar" ]; then
	command -v buildah >/dev/null || die "buildah is missing (make deps)"
	src="$(go env GOMODCACHE)/k8s.io/kubernetes@v$kube/build/pause/linux/pause.c"
	[ -f "$src" ] || GOFLAGS=-mod=mod go mod download "k8s.io/kubernetes@v$kube" >/dev/null 2>&1 || true
	[ -f "$src" ] || die "pause source not found: $src"
	r="$dir/pause-rootfs"
	rm -rf "$r" && mkdir -p "$r"
	cc -Os -static -DVERSION="v$kube-gpuquota" -o "$r/pause" "$src"
	strip "$r/pause"
	image "$pause_ref" "$pause_tar" "$r" '["/pause"]'
	rm -rf "$r"
fi

bb=/usr/bin/busybox
[ -x "$bb" ] || die "$bb is missing (make deps installs busybox-static)"
file -L "$bb" 2>/dev/null | grep -q 'statically linked' || ldd "$bb" 2>&1 | grep -q 'not a dynamic' ||
	die "$bb is not static (busybox-static provides a static one)"
command -v curl >/dev/null || die "curl is missing (make deps)"
debver() { dpkg-query -W -f '${Version}' "$1" | sed 's/^[0-9]*://; s/[^A-Za-z0-9_.-]/_/g'; }
boxver="$(debver busybox-static)-curl$(debver curl)"
box_ref="localhost/gpuquota-testbox:$boxver"
box_tar="$dir/gpuquota-testbox-$boxver.oci.tar"
if ! [ -s "$box_tar" ]; then
	r="$dir/testbox-rootfs"
	rm -rf "$r" && mkdir -p "$r/bin" "$r/tmp" "$r/etc" "$r/www"
	chmod 1777 "$r/tmp"
	cp "$bb" "$r/bin/busybox"
	for a in $("$bb" --list); do [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"; done
	# curl and the libraries the loader resolves for it, at their paths.
	mkdir -p "$r/usr/bin"
	cp "$(command -v curl)" "$r/usr/bin/curl"
	for lib in $(ldd "$(command -v curl)" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u); do
		mkdir -p "$r$(dirname "$lib")"
		cp -L "$lib" "$r$lib"
	done
	chroot "$r" /usr/bin/curl --version >/dev/null || die "curl does not run in the test image"
	printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$r/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
	image "$box_ref" "$box_tar" "$r" '["/bin/sh"]'
	rm -rf "$r"
fi
echo "$pause_ref $pause_tar"
echo "$box_ref $box_tar"
