#!/usr/bin/env bash
# Runs every test: Rust unit tests, then the end-to-end tests against real
# peers (Postfix, Dovecot, swaks, Python's smtplib/imaplib) on loopback.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

bash tests/setup/install-deps.sh
cargo build --release --locked --bin facteur --bin facteur-card-sim --bin facteur-web
# The browser tests' npm packages (playwright-core, axe-core), pinned by
# tests/web/package-lock.json; only when missing.
if [ ! -d tests/web/node_modules/playwright-core ]; then
    (cd tests/web && npm ci --no-audit --no-fund)
fi
# The test Pro Santé Connect's npm package (oidc-provider), pinned by
# tests/psc/package-lock.json; only when missing.
if [ ! -d tests/psc/node_modules/oidc-provider ]; then
    (cd tests/psc && npm ci --no-audit --no-fund)
fi
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked
else
    cargo test --workspace --locked
fi
FACTEUR_BIN="$repo/target/release/facteur" FACTEUR_WEB_BIN="$repo/target/release/facteur-web" /usr/bin/python3 -m pytest -p no:cacheprovider -q tests "$@"
