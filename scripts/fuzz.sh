#!/usr/bin/env bash
# Runs every fuzz target in the module for a fixed number of executions
# (default 50000x each, a few seconds per target here). Crashers are written to
# testdata/fuzz/<Target>/ by go test and then run as ordinary regression seeds
# by every `go test`.
#
# The budget is a count, not a duration, on purpose: with a duration Go's fuzz
# coordinator can race its own deadline on a loaded machine and fail the target
# with "context deadline exceeded" although no input failed (go.dev/issue/75804;
# it failed our CI once). A count has no deadline to race.
set -euo pipefail
cd "$(dirname "$0")/.."
budget="${1:-50000x}"
status=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u || true)
  for t in $targets; do
    echo "== $pkg $t ($budget)"
    if ! go test -run '^$' -fuzz "^${t}\$" -fuzztime "$budget" "$pkg"; then
      status=1
    fi
  done
done
exit $status
