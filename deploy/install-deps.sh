#!/usr/bin/env bash
# Installs every build, test and packaging dependency from Debian's archive.
# Used by the README and by .ci/run; safe to run again.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ca-certificates
  # libraries (cpp-httplib for mesos-sim and test servers only)
  libcurl4-openssl-dev nlohmann-json3-dev libgmp-dev libspdlog-dev libfmt-dev
  catch2 libcli11-dev libcpp-httplib-dev libssl-dev
  # tests: TLS certificates, libFuzzer (clang), systemd-analyze, Debian packaging
  openssl curl clang libclang-rt-14-dev systemd dpkg-dev file
  # zk:// master detection: the ZooKeeper C client; its tests run a real ZooKeeper server (Java)
  libzookeeper-mt-dev zookeeper default-jre-headless
  # Debian packages: man pages from --help, and Debian's package checker
  help2man lintian
)

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
