#!/usr/bin/env bash
# Runs every fuzz target in the module for a short while (default 10s each).
# Crashers are written to testdata/fuzz/<Target>/ by go test and then run as
# ordinary regression seeds by every `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
budget="${1:-10s}"
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
