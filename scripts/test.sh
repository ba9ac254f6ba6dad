#!/usr/bin/env bash
# The full test suite, as the README gives it. Tests start their own private
# redis-server processes on free loopback ports, so the binary must exist:
# when it does not and we are root, install it from Debian's packages.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-sentinel >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing redis-server and redis-sentinel (tests start private instances)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-sentinel >/dev/null
    # The package starts a system instance; tests never use it.
    (service redis-server stop || true) >/dev/null 2>&1
    (service redis-sentinel stop || true) >/dev/null 2>&1
  elif [ -z "${REDIS_ADDR:-}" ]; then
    echo "redis-server/redis-sentinel missing: sudo apt-get install redis-server redis-sentinel (or set REDIS_ADDR)" >&2
    exit 1
  fi
fi

# The deploy tests check docker-compose.yml with `docker-compose config`.
if ! command -v docker-compose >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing docker-compose (the deploy tests validate docker-compose.yml with it)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
  else
    echo "docker-compose is missing: install it (e.g. sudo apt-get install docker-compose)" >&2
    exit 1
  fi
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
echo "== go vet"
go vet ./...
echo "== go test -race"
go test -race -count=1 -timeout 20m ./...
