#!/usr/bin/env bash
# inference.sh benchmarks the model server (kommerce inference) against a
# hand-written Go forward pass of the same models in the same run, and prints the
# offline metrics of both models against their baselines, as Markdown.
#
#   hack/bench/inference.sh [-iterations N] [-seeds N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
KOMMERCE_ONNXRUNTIME_LIB=$(hack/onnxruntime.sh | tail -1)
export KOMMERCE_ONNXRUNTIME_LIB
echo "# inference benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(go version | cut -d' ' -f3)"
echo
go run ./hack/bench/inference "$@"
