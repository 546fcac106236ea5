#!/usr/bin/env bash
# Installs dependencies from Debian's archive; safe to run again.
#   bash deploy/install-deps.sh              build and run: the programs and mesos-sim
#                                            (deploy/try-local.sh)
#   bash deploy/install-deps.sh --packages   also what deploy/build-packages.sh needs
#   bash deploy/install-deps.sh --tests      also every test's tools (test/run-tests.sh, .ci/run);
#                                            implies --packages, which the deploy tests build
set -euo pipefail

usage="usage: deploy/install-deps.sh [--packages] [--tests]"
with_packages=false with_tests=false
for arg in "$@"; do
  case $arg in
    --packages) with_packages=true ;;
    --tests) with_tests=true with_packages=true ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) echo "install-deps: unknown argument '$arg'; $usage" >&2; exit 2 ;;
  esac
done

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ca-certificates
  # libraries; cpp-httplib for mesos-sim, catch2 because test/ (where mesos-sim lives) needs it
  # to configure, libzookeeper-mt-dev for zk:// masters, libxxhash-dev for result files' XXH3-128
  libcurl4-openssl-dev nlohmann-json3-dev libgmp-dev libspdlog-dev libfmt-dev libcli11-dev
  libssl-dev libzookeeper-mt-dev libcpp-httplib-dev catch2 libxxhash-dev
)
if $with_packages; then
  packages+=(
    # Debian packages: hardening flags and shlibs (dpkg-dev, file), man pages from --help
    dpkg-dev file help2man
  )
fi
if $with_tests; then
  packages+=(
    # TLS certificates, the deploy test's HTTP calls, libFuzzer (clang), systemd-analyze and a
    # systemd to run the unit under, Debian's package checker
    openssl curl clang libclang-rt-14-dev systemd lintian
    # the docs check (test/docs_check.py)
    python3
    # the zk label runs a real ZooKeeper server (Java)
    zookeeper default-jre-headless
    # the status page test loads the scheduler's page in a real headless browser
    chromium
  )
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi

export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
