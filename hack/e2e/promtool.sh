#!/usr/bin/env bash
# promtool.sh checks the chart's Prometheus rules with Prometheus's own promtool
# (built from its Go module by `make promtool`, pinned in the Makefile): the rule file
# must parse (`promtool check rules`), and every alert must pass its unit tests
# (`promtool test rules hack/promtool/alerts_test.yaml`: one case that fires it, one
# that does not). It also renders the chart with the rules on and checks that the
# PrometheusRule carries exactly that file.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
make -s promtool helm
rules=charts/kommerce/rules/kommerce.rules.yaml
bin/promtool check rules "$rules"
bin/promtool test rules hack/promtool/alerts_test.yaml
rendered=$(mktemp)
trap 'rm -f "$rendered"' EXIT
bin/helm template kommerce charts/kommerce --namespace kommerce-system \
	--set metrics.prometheusRule.enabled=true --show-only templates/prometheusrule.yaml >"$rendered"
grep -q '^kind: PrometheusRule$' "$rendered" || { echo "promtool.sh: the chart rendered no PrometheusRule" >&2; exit 1; }
# Every alert of the file is in the rendered resource.
missing=0
while read -r alert; do
	grep -q "alert: $alert\$" "$rendered" || { echo "promtool.sh: $alert is not in the rendered PrometheusRule" >&2; missing=1; }
done < <(sed -nE 's/^ *- alert: ([A-Za-z]+)$/\1/p' "$rules")
exit $missing
