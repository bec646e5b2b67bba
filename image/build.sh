#!/usr/bin/env bash
# build.sh - `make image`: builds the controller's container image without a
# registry and writes it as an OCI archive. The root filesystem comes from
# image/rootfs.sh (the binary built here plus the Debian runtime libraries it
# loads); buildah (Debian's package) turns it into an image from scratch,
# with the configuration the Containerfile gives it too. Before committing,
# the binary is run inside the assembled filesystem as the image's user
# (chroot), so an image missing a library is never written.
#
# Usage: image/build.sh BINARY
# The image is tagged with the version the binary reports (its `version`
# command), so the tag and the binary can never disagree.
# Environment: IMAGE_NAME (default gpuquota-controller), IMAGE_DIR (default
# build/image). Prints, as its last two lines:
#   image: localhost/<name>:<version>
#   archive: <path of the OCI archive>
set -euo pipefail

bin=${1:?usage: build.sh BINARY}
version=$("$bin" version | awk '{print $NF}')
case "$version" in
"" | *[!A-Za-z0-9_.-]*) echo "image: unusable version '$version' from $bin version" >&2 && exit 1 ;;
esac
name=${IMAGE_NAME:-gpuquota-controller}
dir=${IMAGE_DIR:-build/image}
uid=65532
ref="localhost/$name:$version"
archive="$dir/$name-$version.oci.tar"
root="$dir/rootfs"
# A storage of our own under the build directory: nothing is written to the
# machine's container storage, and vfs needs no overlay support.
store=(--root "$PWD/$dir/storage" --runroot "$PWD/$dir/run" --storage-driver vfs)

mkdir -p "$dir"
image/rootfs.sh "$bin" "$root"
if ! out=$(chroot --userspec=$uid:$uid "$root" /usr/bin/gpuquota-controller version 2>&1); then
	echo "image: the controller does not run in its image's filesystem: $out" >&2
	exit 1
fi
echo "image: runs in its filesystem as uid $uid: $out"

ctr=$(buildah "${store[@]}" from --quiet scratch)
trap 'buildah "${store[@]}" rm "$ctr" >/dev/null 2>&1 || true' EXIT
buildah "${store[@]}" copy --quiet "$ctr" "$root/" / >/dev/null
buildah "${store[@]}" config \
	--user "$uid:$uid" \
	--workingdir /tmp \
	--entrypoint '["/usr/bin/gpuquota-controller"]' \
	--cmd '["run"]' \
	--port 9443 --port 8080 --port 8081 \
	--label org.opencontainers.image.title="$name" \
	--label org.opencontainers.image.version="$version" \
	--label org.opencontainers.image.description="gpuquota: GPU quotas, priority tiers and GPU-hour budgets for Kubernetes" \
	"$ctr"
buildah "${store[@]}" commit --quiet --format oci "$ctr" "$ref" >/dev/null
rm -f "$archive"
buildah "${store[@]}" push --quiet "$ref" "oci-archive:$archive:$ref" >/dev/null
size=$(du -m "$archive" | cut -f1)
echo "image: $(du -h "$archive" | cut -f1) archive ($size MiB)"
echo "image: $ref"
echo "archive: $archive"
