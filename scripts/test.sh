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
