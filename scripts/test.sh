#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and HTTP integration tests on SQLite
# and (when TEST_DATABASE_URL is set) PostgreSQL. One debug build serves every group.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

if ! cargo nextest --version >/dev/null 2>&1; then
  step "installing cargo-nextest (not on this machine)"
  cargo install --locked cargo-nextest
fi

filter=()
if [ -z "${TEST_DATABASE_URL:-}" ]; then
  cat <<'BANNER'

  ******************************************************************
  *  TEST_DATABASE_URL is not set: every PostgreSQL test is SKIPPED *
  *  (they are listed as skipped in the summary below). Set it, e.g. *
  *  TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres  *
  ******************************************************************

BANNER
  filter=(-E 'not test(/postgres$/)')
fi

step "cargo nextest run (unit + HTTP integration tests)"
cargo nextest run --workspace --no-fail-fast "${filter[@]}"

# Browser tests: headless system Chromium driven by playwright-core (e2e/) against a
# real `hivematrix serve`. Chromium and the npm package are installed when missing;
# when both are present this needs no network. Screenshots of failing steps and the
# server log are kept in ci-artifacts/e2e/.
step "browser tests (e2e/: playwright-core + Chromium)"
if [ "${HIVEMATRIX_SKIP_E2E:-}" = "1" ]; then
  printf '\n  *** HIVEMATRIX_SKIP_E2E=1: the browser tests are SKIPPED ***\n\n'
  exit 0
fi
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -q chromium >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null; }
  fi
  [ -x "$CHROMIUM" ] || { echo "Chromium not found at $CHROMIUM (install Debian's chromium package or set CHROMIUM)"; exit 1; }
fi
if [ ! -d e2e/node_modules/playwright-core ]; then
  (cd e2e && npm ci --no-audit --no-fund --prefer-offline)
fi
cargo build --quiet --bin hivematrix
node e2e/run.mjs
