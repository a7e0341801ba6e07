#!/usr/bin/env bash
# Refreshes proto/ from a k8s.io/cri-api release on the Go module proxy.
# The files are copied byte for byte: crion never edits the upstream API.
# Usage: scripts/update-cri-proto.sh [vX.Y.Z]   (default: newest non-prerelease)
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:-}
if [ -z "$version" ]; then
  version=$(go list -m -versions k8s.io/cri-api | tr ' ' '\n' | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' | sort -V | tail -n 1)
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
dir=$(cd "$scratch" && go mod download -json "k8s.io/cri-api@$version" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
[ -d "$dir" ] || { echo "update-cri-proto: go mod download gave no directory for $version" >&2; exit 1; }

install -m 0644 "$dir/pkg/apis/runtime/v1/api.proto" proto/runtime/v1/api.proto
install -m 0644 "$dir/LICENSE" proto/LICENSE
# Only the cri-api line is ours to change; the lines after it name the other vendored protos (NRI's).
{ printf 'k8s.io/cri-api %s\n' "$version"; tail -n +2 proto/VERSION; } > "$scratch/VERSION"
install -m 0644 "$scratch/VERSION" proto/VERSION
echo "proto/ now holds k8s.io/cri-api $version"
