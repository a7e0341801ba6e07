#!/usr/bin/env bash
# Builds the real CRI clients (crictl, critest) from one pinned cri-tools release
# with the machine's Go toolchain: no container registry or release download needed.
#
#   scripts/cri-tools.sh         build into the cache dir unless both binaries exist
#   scripts/cri-tools.sh path    print the cache dir
set -euo pipefail

CRI_TOOLS_VERSION=v1.37.0
CRI_TOOLS_MODULE=sigs.k8s.io/cri-tools
TOOLS_DIR="${CRION_TOOLS_DIR:-$HOME/.cache/crion/cri-tools-$CRI_TOOLS_VERSION}"

die() {
  echo "cri-tools.sh: $*" >&2
  exit 1
}

case "${1:-build}" in
  path)
    echo "$TOOLS_DIR"
    exit 0
    ;;
  build) ;;
  *) die "unknown command '$1' (expected: build, path)" ;;
esac

report() {
  echo "crictl: $("$TOOLS_DIR/crictl" --version)"
  # critest is a ginkgo test binary; --version prints its own version line and exits.
  echo "critest: $("$TOOLS_DIR/critest" --version 2>&1 | head -n1)"
  echo "cri-tools cache: $TOOLS_DIR"
}

if [[ -x "$TOOLS_DIR/crictl" && -x "$TOOLS_DIR/critest" ]]; then
  report
  exit 0
fi

command -v go >/dev/null || die "go is not on PATH; cri-tools $CRI_TOOLS_VERSION is built from source"
mkdir -p "$TOOLS_DIR"
started=$SECONDS

if [[ ! -x "$TOOLS_DIR/crictl" ]]; then
  echo "building crictl $CRI_TOOLS_VERSION ($(go version))"
  GOBIN="$TOOLS_DIR" go install "$CRI_TOOLS_MODULE/cmd/crictl@$CRI_TOOLS_VERSION"
fi

if [[ ! -x "$TOOLS_DIR/critest" ]]; then
  echo "building critest $CRI_TOOLS_VERSION"
  # critest is the test binary of cmd/critest, which `go install` cannot build;
  # `go test -c` needs a main module whose go.sum covers the package's test-only
  # imports (ginkgo, gomega), hence a throwaway module and `go get -t`.
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  (
    cd "$scratch"
    go mod init crion.local/critest-build >/dev/null 2>&1
    go get -t "$CRI_TOOLS_MODULE/cmd/critest@$CRI_TOOLS_VERSION"
    # Write to a temp name first so an interrupted build never looks finished.
    go test -c -o "$TOOLS_DIR/critest.tmp" "$CRI_TOOLS_MODULE/cmd/critest"
  )
  mv "$TOOLS_DIR/critest.tmp" "$TOOLS_DIR/critest"
fi

echo "built cri-tools $CRI_TOOLS_VERSION in $((SECONDS - started))s"
report
