#!/usr/bin/env bash
# Runs the fuzz targets of the export path, each for SECONDS (default 600),
# on the stable toolchain (libFuzzer coverage, no sanitizer: Rust's own
# checks catch memory errors in safe code). Not a test: a campaign, whose
# figures (runs, coverage, crashes) go into the issue notes.
#   gateway/fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(export_message read_xdm classify_receipt sidecar extraction_line)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cd "$here"
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true
    echo "fuzz: $t for ${seconds}s" >&2
    cargo fuzz run --sanitizer none "$t" "corpus/$t" -- -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=262144 2>&1 | tail -n 5
done
if find artifacts -type f 2>/dev/null | grep -q .; then
    find artifacts -type f >&2
    echo "fuzz: crashes found (artifacts/)" >&2
else
    echo "fuzz: no crash" >&2
fi
