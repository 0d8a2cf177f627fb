#!/usr/bin/env bash
# `make test-cmake-package`: installs the core as a static library (from BUILD, already
# built) and as a shared one (BUILD/shared), then builds tests/cmake_consumer against each
# install with find_package(groupquant) and runs its programs. Prints one line per program;
# the configure and build output goes to BUILD/test-logs/cmake-package.log, printed in full
# if a step fails.
#
#     tests/cmake_consumer/check_package.sh BUILD JOBS
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$1
jobs=$2
log=$build/test-logs/cmake-package.log
mkdir -p "$build/test-logs"
: >"$log"

step() {  # runs "$@" with its output in the log; on failure prints the log and stops
  echo "+ $*" >>"$log"
  if ! "$@" >>"$log" 2>&1; then
    cat "$log"
    echo "CMake package: FAILED: $* (log above: $log)"
    exit 1
  fi
}

echo "CMake package: tests/cmake_consumer against a static and a shared install"
step cmake --install "$build" --prefix "$build/install"
step cmake -S . -B "$build/shared" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON
step cmake --build "$build/shared" -j "$jobs"
step cmake --install "$build/shared" --prefix "$build/install-shared"

for kind in static shared; do
  prefix=$PWD/$build/install$([ "$kind" = shared ] && echo -shared || true)
  dir=$build/consumer-$kind
  # GQ_DOC: the consumer checks that docs/cpp.md shows engine_example.cc verbatim.
  step cmake -S tests/cmake_consumer -B "$dir" -DCMAKE_PREFIX_PATH="$prefix" \
    -DGQ_DOC="$PWD/docs/cpp.md"
  step cmake --build "$dir" -j "$jobs"
  for exe in consumer_c consumer_cpp engine_example; do
    # A shared install must give programs that load libgroupquant.so.0 (the SONAME).
    linked=static
    if readelf -d "$dir/$exe" | grep -q 'NEEDED.*libgroupquant\.so\.0'; then linked=shared; fi
    if [ "$linked" != "$kind" ]; then
      echo "CMake package: FAILED: $dir/$exe linked libgroupquant $linked, expected $kind"
      exit 1
    fi
    if ! out=$("$dir/$exe" 2>&1); then
      echo "$out"
      echo "CMake package: FAILED: $dir/$exe (against the $kind install $prefix)"
      exit 1
    fi
    echo "  $kind $exe: $out"
  done
done
echo "CMake package: ok: 3 programs x 2 installs"
echo "  full log: $log"
