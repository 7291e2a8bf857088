#!/usr/bin/env bash
# onnx.sh regenerates the Go code of kommerce's ONNX protobuf subset
# (inference/onnx/onnxpb/onnx.proto) with protoc from the Debian package
# protobuf-compiler and protoc-gen-go pinned to the google.golang.org/protobuf version
# in go.mod.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

if ! command -v protoc >/dev/null; then
	if [[ $EUID -eq 0 ]]; then
		echo "gen onnx: installing the Debian package protobuf-compiler" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends protobuf-compiler >&2 ||
			{ apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends protobuf-compiler >&2; }
	else
		echo "gen onnx: protoc is missing: apt-get install protobuf-compiler" >&2
		exit 1
	fi
fi
version=$(go list -m -f '{{.Version}}' google.golang.org/protobuf)
tools=${KOMMERCE_CACHE_DIR:-$HOME/.cache/kommerce}/tools
plugin=$tools/protoc-gen-go-$version
if [[ ! -x $plugin ]]; then
	mkdir -p "$tools/tmp"
	GOBIN="$tools/tmp" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$version"
	mv "$tools/tmp/protoc-gen-go" "$plugin"
fi
bindir=$(mktemp -d)
trap 'rm -rf "$bindir"' EXIT
ln -s "$plugin" "$bindir/protoc-gen-go"
PATH=$bindir:$PATH protoc -I inference/onnx/onnxpb --go_out=inference/onnx/onnxpb --go_opt=paths=source_relative onnx.proto
# protoc's version differs between machines; keep it out of the header so that
# regenerating on another Debian release does not show a diff.
sed -i -E 's#^// \tprotoc +v.*#// \tprotoc (Debian protobuf-compiler)#' inference/onnx/onnxpb/onnx.pb.go
