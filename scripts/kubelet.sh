#!/usr/bin/env bash
# Builds the real kubelet, crion's actual user, at the Kubernetes release that matches
# the vendored cri-api (k8s.io/cri-api v0.37.2 ships with Kubernetes v1.37.2), with the
# machine's Go toolchain and the Go module proxy: no release download needed.
#
#   scripts/kubelet.sh         build into the cache dir unless the binary there already reports the pinned version
#   scripts/kubelet.sh path    print the path of the kubelet binary
set -euo pipefail

KUBERNETES_VERSION=v1.37.2
# The staging modules (k8s.io/api, k8s.io/client-go, …) are published with the same
# minor and patch under major version 0.
STAGING_VERSION="v0.${KUBERNETES_VERSION#v1.}"
TOOLS_DIR="${CRION_KUBELET_DIR:-$HOME/.cache/crion/kubelet-$KUBERNETES_VERSION}"
KUBELET="$TOOLS_DIR/kubelet"

die() {
  echo "kubelet.sh: $*" >&2
  exit 1
}

case "${1:-build}" in
  path)
    echo "$KUBELET"
    exit 0
    ;;
  build) ;;
  *) die "unknown command '$1' (expected: build, path)" ;;
esac

# `kubelet --version` prints "Kubernetes v1.37.2"; a binary from another build would not.
if [[ -x $KUBELET && "$("$KUBELET" --version 2>/dev/null || true)" == "Kubernetes $KUBERNETES_VERSION" ]]; then
  echo "kubelet $KUBERNETES_VERSION already in $KUBELET"
  exit 0
fi

command -v go >/dev/null || die "go is not on PATH; the kubelet $KUBERNETES_VERSION is built from source"
mkdir -p "$TOOLS_DIR"
started=$SECONDS
echo "building kubelet $KUBERNETES_VERSION ($(go version))"

# k8s.io/kubernetes cannot be `go install`ed: its go.mod points every staging module at
# ./staging/src/…, which only exists in its own checkout. A throwaway main module
# requires it and replaces each staging module that it requires with the published twin.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
go mod init crion.local/kubelet-build >/dev/null 2>&1
upstream_mod="$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",\?$/\1/p')"
[[ -f $upstream_mod ]] || die "could not download the go.mod of k8s.io/kubernetes@$KUBERNETES_VERSION"
mapfile -t staging < <(sed -n 's|^\s*\(k8s\.io/[^ ]*\) => \./staging/.*|\1|p' "$upstream_mod")
((${#staging[@]} > 0)) || die "found no staging modules in $upstream_mod"
edits=("-require=k8s.io/kubernetes@$KUBERNETES_VERSION")
for module in "${staging[@]}"; do
  # Only what k8s.io/kubernetes itself requires: the sample modules are not published.
  if grep -qE "^\s*${module//./\\.} v0\.0\.0" "$upstream_mod"; then
    edits+=("-replace=$module=$module@$STAGING_VERSION")
  fi
done
go mod edit "${edits[@]}"
go get "k8s.io/kubernetes/cmd/kubelet@$KUBERNETES_VERSION"

# What Kubernetes' hack/lib/version.sh stamps in; without it the kubelet calls itself v0.0.0.
version_pkg=k8s.io/component-base/version
minor="${KUBERNETES_VERSION#v1.}"
minor="${minor%%.*}"
ldflags="-s -w -X $version_pkg.gitVersion=$KUBERNETES_VERSION -X $version_pkg.gitMajor=1 -X $version_pkg.gitMinor=$minor"
ldflags+=" -X $version_pkg.gitTreeState=clean"
# Write to a temp name first so an interrupted build never looks finished.
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$KUBELET.tmp" k8s.io/kubernetes/cmd/kubelet
mv "$KUBELET.tmp" "$KUBELET"

echo "built kubelet $KUBERNETES_VERSION in $((SECONDS - started))s: $("$KUBELET" --version)"
