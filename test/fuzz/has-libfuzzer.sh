#!/bin/sh
# Succeeds when clang links a libFuzzer target (the ensure-deps.sh probe of
# the runtime package, libclang-rt-dev on Debian).
command -v clang >/dev/null 2>&1 || exit 1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/samsa-probe.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' > "$tmp/t.c"
clang -fsanitize=fuzzer "$tmp/t.c" -o "$tmp/t" >/dev/null 2>&1
