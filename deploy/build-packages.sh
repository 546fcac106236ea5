#!/usr/bin/env bash
# Builds the Debian packages factorial-scheduler and factorial-executor in a build tree of their
# own: RelWithDebInfo with Debian's hardening flags, prefix /usr (the scheduler bakes in
# /usr/bin/factorial-executor as the executor the agents run), man pages, stripped binaries.
#   bash deploy/build-packages.sh [BUILD_DIR [OUT_DIR]]     (default: build-deb, packages in it)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-deb}
out=${2:-$build}
# The flags dpkg-buildpackage would pass (stack protector, fortify, relro, bindnow); CMake reads
# them when it first configures the tree.
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
CXXFLAGS="$(dpkg-buildflags --get CXXFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
LDFLAGS="$(dpkg-buildflags --get LDFLAGS)"
export CXXFLAGS LDFLAGS
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
  -DFACTORIAL_DEB_PACKAGES=ON -DFACTORIAL_BUILD_TESTS=OFF "${launcher[@]}" >/dev/null
cmake --build "$build"
(cd "$build" && cpack -G DEB -B "$out" >/dev/null)
ls "$out"/factorial-scheduler_*.deb "$out"/factorial-executor_*.deb
