#!/usr/bin/env bash
# rootfs.sh - assembles the controller image's root filesystem: the stripped
# controller binary and exactly the shared libraries it loads (as resolved by
# the dynamic loader on the Debian build machine), the loader itself, a
# passwd/group naming the non-root user, an empty /tmp, and the Debian
# copyright file of every package a library comes from. No shell, no
# package manager. Used by `make image` (image/build.sh) and by the
# Containerfile's build stage, so both give the same filesystem.
#
# Usage: image/rootfs.sh BINARY DIR
#   BINARY  the controller built on this machine (bin/gpuquota-controller)
#   DIR     the root filesystem to write (emptied first)
set -euo pipefail

bin=${1:?usage: rootfs.sh BINARY DIR}
root=${2:?usage: rootfs.sh BINARY DIR}
uid=65532

case "$root" in
/ | "") echo "rootfs: refusing to write to '$root'" >&2 && exit 1 ;;
esac
rm -rf "$root"
mkdir -p "$root/usr/bin" "$root/etc" "$root/tmp" "$root/usr/share/doc"
chmod 1777 "$root/tmp"
# usrmerge layout, as on Debian bookworm: /lib and /lib64 point into /usr.
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"

strip --strip-unneeded -o "$root/usr/bin/gpuquota-controller" "$bin"

# The libraries the loader resolves for the binary, and the loader.
libs=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
[ -n "$libs" ] || { echo "rootfs: ldd found no libraries for $bin" >&2; exit 1; }
pkgs=()
for lib in $libs; do
	real=$(readlink -f "$lib")
	# Paths inside the image are under /usr (bookworm is usrmerged).
	dest=$lib
	case "$dest" in /usr/*) ;; *) dest=/usr$dest ;; esac
	mkdir -p "$root$(dirname "$dest")"
	cp "$real" "$root$dest"
	chmod 0755 "$root$dest"
	pkg=$(dpkg -S "$real" 2>/dev/null | head -n 1 | cut -d: -f1) ||
		pkg=$(dpkg -S "$lib" 2>/dev/null | head -n 1 | cut -d: -f1) || true
	[ -n "$pkg" ] && pkgs+=("$pkg")
done
for pkg in $(printf '%s\n' "${pkgs[@]}" | sort -u); do
	if [ -f "/usr/share/doc/$pkg/copyright" ]; then
		mkdir -p "$root/usr/share/doc/$pkg"
		cp "/usr/share/doc/$pkg/copyright" "$root/usr/share/doc/$pkg/"
	fi
done

cat >"$root/etc/passwd" <<EOF
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:$uid:$uid:nonroot:/tmp:/sbin/nologin
EOF
cat >"$root/etc/group" <<EOF
root:x:0:
nonroot:x:$uid:
EOF
# Name resolution from /etc/hosts then DNS (the NSS modules are part of
# glibc's libc.so.6 since 2.34).
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
echo "rootfs: $root: $(du -sh "$root" | cut -f1), $(echo "$libs" | wc -l) libraries from $(printf "%s\n" "${pkgs[@]}" | sort -u | wc -l) packages"
