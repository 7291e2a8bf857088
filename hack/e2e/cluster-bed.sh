#!/usr/bin/env bash
# cluster-bed.sh runs hack/cluster_test.sh as one end-to-end test of make test: the
# cluster script's failure modes, the cluster's DNS, Services, host services and
# enforced NetworkPolicy, and a `down` that leaves the machine as it found it. It runs
# before cluster.sh (the names sort that way), which installs the operator on a fresh
# cluster of its own.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
exec hack/cluster_test.sh
