#!/bin/sh
# Fresh Debian 12 machine → every test: install dependencies, build, run the
# unit tests and the end-to-end tests (real daemons, real FUSE mounts), the
# Debian package (built, installed, run, purged), then
# build again under ASan+UBSan and run the unit tests and some end-to-end
# tests with it (docs/testing.md). Needs root and
# /dev/fuse. Exit status is non-zero if anything failed.
set -eu
cd "$(dirname "$0")/.."
if [ "${CLUSTERFS_SKIP_DEPS:-0}" != 1 ]; then
	./scripts/deps.sh
fi
[ -d build ] || meson setup build --prefix=/usr/local --sysconfdir=/etc
ninja -C build
meson test -C build --print-errorlogs --num-processes 2
# The Debian package: built from a copy of the tree, installed, a node run
# from its unit's command, purged (docs/testing.md, "The package test").
./scripts/test-package.sh

[ -d build-asan ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-asan --suite unit --print-errorlogs --num-processes 2
# The daemons under ASan+UBSan too: a subset of the end-to-end tests
# (docs/testing.md "Sanitizers" says which and why).
meson test -C build-asan --print-errorlogs --num-processes 2 test_quorum.sh test_failover.sh \
	test_partition.sh test_membership.sh test_snapshot.sh test_leases.sh test_health.sh \
	test_encryption.sh test_snapshot_install_crash.sh test_mmap.sh test_lifecycle.sh
# The fuzzers (tests/fuzz, clang + libFuzzer): 7 targets, 24 s each, from
# a fixed seed so that a run here explores the same inputs each time (new
# findings come from longer runs with other seeds: docs/testing.md).
FUZZ_ARGS="${FUZZ_ARGS:--seed=1}" ./scripts/fuzz.sh "${CLUSTERFS_FUZZ_SECONDS:-24}"
echo "all tests passed"
