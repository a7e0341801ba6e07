#!/usr/bin/env bash
# Prepares a Debian 12 machine (as root) to build and test crion: system packages,
# npm dependencies, the build, and the pinned crictl/critest. Safe to re-run; a
# machine that is already set up costs only the checks.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() {
  echo "setup.sh: $*" >&2
  exit 1
}

[[ $EUID -eq 0 ]] || die "must run as root (it installs packages with apt-get)"

# runc, CNI plugins and iptables are what the daemon drives; docker-registry and
# busybox-static let the e2e tests serve images from loopback, since CI has no
# container registry; pkg-config and build-essential build the native addon.
# zstd builds zstd test layers; attr gives the TypeScript unpacker setfattr (Node has no
# xattr API); openssl signs the test registry's tokens; containerd is the benchmark's peer;
# iproute2's ip shows the native tests what a pod's network namespace holds; curl, xz-utils and
# the -dev, protobuf and libnftables packages build CRIU for checkpoint and restore (scripts/criu.sh);
# systemd gives systemd-analyze, which checks the unit `crion install-service` writes, and
# python3-prometheus-client is the Prometheus text-format parser the metrics tests read the endpoint with.
packages=(
  runc containernetworking-plugins docker-registry busybox-static iptables containerd
  ca-certificates pkg-config build-essential zstd attr openssl iproute2
  curl xz-utils libbsd-dev libcap-dev libgnutls28-dev libnet1-dev libnftables-dev libnl-3-dev
  libprotobuf-c-dev libprotobuf-dev protobuf-c-compiler protobuf-compiler python3-protobuf uuid-dev
  systemd python3-prometheus-client
)

missing=()
for package in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)"
  [[ $status == "install ok installed" ]] || missing+=("$package")
done

if ((${#missing[@]} > 0)); then
  echo "==> apt-get install ${missing[*]}"
  # containerd and docker-registry ship services that would start on install and
  # claim /run/containerd and port 5000; Debian's maintainer scripts ask policy-rc.d
  # first, and 101 means "do not start".
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "==> system packages already installed"
fi

# Where systemd runs, keep those services off across reboots too; the tests start
# their own daemons with private sockets and ports.
if [[ -d /run/systemd/system ]]; then
  for unit in containerd.service docker-registry.service; do
    if systemctl is-enabled --quiet "$unit" 2>/dev/null || systemctl is-active --quiet "$unit"; then
      echo "==> disabling $unit"
      systemctl disable --now "$unit"
    fi
  done
fi

for tool in node npm cargo go; do
  command -v "$tool" >/dev/null ||
    die "$tool is not on PATH; this machine kind is expected to provide Node 20, npm, cargo (rustup) and Go"
done
# shellcheck disable=SC2016 # the ${...} belongs to the JavaScript template literal
node -e '
  const [major, minor] = process.versions.node.split(".").map(Number);
  if (major < 20 || (major === 20 && minor < 17)) {
    console.error(`setup.sh: Node ${process.versions.node} is too old; crion needs >= 20.17`);
    process.exit(1);
  }
'
echo "==> node $(node --version), npm $(npm --version), $(cargo --version), $(go version)"

# npm ci wipes node_modules, so skip it when the installed tree came from this exact lockfile.
lock_stamp=node_modules/.crion-lock.sha256
lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ -f $lock_stamp && "$(cat "$lock_stamp")" == "$lock_sum" ]]; then
  echo "==> node_modules matches package-lock.json"
else
  echo "==> npm ci"
  npm ci
  echo "$lock_sum" >"$lock_stamp"
fi

echo "==> npm run build"
npm run build

echo "==> cri-tools"
bash scripts/cri-tools.sh

echo "==> kubelet"
bash scripts/kubelet.sh

echo "==> criu"
bash scripts/criu.sh

# critest's busybox stand-in needs a shell that runs commands from PATH, as the official
# busybox image's does (busybox-static's runs its applets in-process). Debian's dynamically
# linked busybox does, but its package conflicts with busybox-static, so it is unpacked into
# the cache (where __test__/helpers/dynamic-busybox.ts looks) instead of installed.
busybox_dir="$HOME/.cache/crion/busybox-dynamic"
if [[ -x $busybox_dir/bin/busybox ]]; then
  echo "==> busybox (dynamic) already in $busybox_dir"
else
  echo "==> busybox (dynamic) into $busybox_dir"
  download="$(mktemp -d)"
  (cd "$download" && { apt-get download busybox || { apt-get update && apt-get download busybox; }; })
  rm -rf "$busybox_dir"
  dpkg-deb -x "$download"/busybox_*.deb "$busybox_dir"
  rm -rf "$download"
fi
