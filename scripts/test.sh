#!/bin/sh
# Fresh Debian 12 machine → every test: install dependencies, build, run the
# unit tests and the end-to-end tests (real daemons, real FUSE mounts), then
# build the unit tests again under ASan+UBSan and run them. Needs root and
# /dev/fuse. Exit status is non-zero if anything failed.
set -eu
cd "$(dirname "$0")/.."
if [ "${CLUSTERFS_SKIP_DEPS:-0}" != 1 ]; then
	./scripts/deps.sh
fi
[ -d build ] || meson setup build
ninja -C build
meson test -C build --print-errorlogs --num-processes 2

[ -d build-asan ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-asan --suite unit --print-errorlogs --num-processes 2
# The fuzzers (tests/fuzz, clang + libFuzzer): 5 targets, 24 s each.
./scripts/fuzz.sh "${CLUSTERFS_FUZZ_SECONDS:-24}"
echo "all tests passed"
