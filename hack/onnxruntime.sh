#!/usr/bin/env bash
# onnxruntime.sh installs onnxruntime's shared library into the cache (first run only)
# and prints its path on the last line of stdout.
#
#   hack/onnxruntime.sh          install if needed, print the library path
#   hack/onnxruntime.sh --check  print the path only if it is installed and intact
#   hack/onnxruntime.sh --path   print where the library is (or will be) installed
#
# The library comes from the npm package onnxruntime-node, which ships a prebuilt
# libonnxruntime.so for linux/x64. A plain `npm install` of that package runs a
# post-install step that downloads CUDA files from outside the registry, so the tarball
# is fetched with `npm pack` (no scripts) and only the library is extracted. Both the
# tarball and the library are pinned by sha256. onnxruntime_go v1.27.0 needs the C API
# of onnxruntime >= 1.24.
set -euo pipefail

ORT_VERSION=${KOMMERCE_ONNXRUNTIME_VERSION:-1.24.3}
TGZ_SHA256=aa1bb5fa261ea68de05dd53efbba210cd7adf2d2850f4c3a201054c74cc78040
LIB_SHA256=92ba8e44d31b80a34f5e805076a044122c3be1fffe0d88ed790de7267b0b2682
CACHE=${KOMMERCE_CACHE_DIR:-$HOME/.cache/kommerce}
DIR=$CACHE/onnxruntime/$ORT_VERSION
LIB=$DIR/libonnxruntime.so.1
MEMBER=package/bin/napi-v6/linux/x64/libonnxruntime.so.1

say() { echo "onnxruntime: $*" >&2; }
die() { say "error: $*"; exit 1; }

intact() { [[ -f $LIB ]] && [[ $(sha256sum "$LIB" | cut -d' ' -f1) == "$LIB_SHA256" ]]; }

if [[ ${1:-} == --path ]]; then
	echo "$LIB"
	exit 0
fi
if [[ ${1:-} == --check ]]; then
	intact || die "not installed (run hack/onnxruntime.sh)"
	echo "$LIB"
	exit 0
fi

if ! intact; then
	[[ $(uname -s)/$(uname -m) == Linux/x86_64 ]] || die "only linux/x86_64 is packaged here (got $(uname -s)/$(uname -m))"
	command -v npm >/dev/null || die "npm is needed to fetch onnxruntime-node@$ORT_VERSION from the npm registry (apt-get install npm)"
	mkdir -p "$DIR"
	tmp=$(mktemp -d "$DIR/.tmp.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	say "fetching onnxruntime-node@$ORT_VERSION with npm pack (first time only, ~86 MB)"
	(cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
	tgz=$tmp/onnxruntime-node-$ORT_VERSION.tgz
	got=$(sha256sum "$tgz" | cut -d' ' -f1)
	[[ $got == "$TGZ_SHA256" ]] || die "onnxruntime-node-$ORT_VERSION.tgz has sha256 $got, want $TGZ_SHA256"
	tar -xzf "$tgz" -C "$tmp" "$MEMBER"
	got=$(sha256sum "$tmp/$MEMBER" | cut -d' ' -f1)
	[[ $got == "$LIB_SHA256" ]] || die "libonnxruntime.so.1 has sha256 $got, want $LIB_SHA256"
	mv "$tmp/$MEMBER" "$LIB"
	chmod 0755 "$LIB"
	say "installed $LIB"
fi
echo "$LIB"
