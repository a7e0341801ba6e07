#!/usr/bin/env bash
# Builds the real CRI clients (crictl, critest) from one pinned cri-tools release
# with the machine's Go toolchain: no container registry or release download needed.
#
#   scripts/cri-tools.sh         build into the cache dir unless both binaries there already report the pinned version
#   scripts/cri-tools.sh path    print the cache dir
set -euo pipefail

CRI_TOOLS_VERSION=v1.37.0
CRI_TOOLS_MODULE=sigs.k8s.io/cri-tools
TOOLS_DIR="${CRION_TOOLS_DIR:-$HOME/.cache/crion/cri-tools-$CRI_TOOLS_VERSION}"
# What cri-tools' Makefile stamps in; without it both tools call themselves "unknown".
GO_LDFLAGS="-X $CRI_TOOLS_MODULE/pkg/version.Version=${CRI_TOOLS_VERSION#v}"

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

crictl_version() {
  [[ -x "$TOOLS_DIR/crictl" ]] && "$TOOLS_DIR/crictl" --version 2>/dev/null
}

critest_version() {
  # A test binary: it also prints PASS, and warns on stderr about a missing /etc/crictl.yaml.
  [[ -x "$TOOLS_DIR/critest" ]] && (cd "$TOOLS_DIR" && ./critest --version 2>/dev/null | grep '^critest version')
}

# The version check, not mere existence, decides: a binary from another build would pass for this one.
is_current() {
  [[ "$("$1" || true)" == *" ${CRI_TOOLS_VERSION#v}" ]]
}

report() {
  crictl_version
  critest_version
  echo "cri-tools cache: $TOOLS_DIR"
}

if is_current crictl_version && is_current critest_version; then
  report
  exit 0
fi

command -v go >/dev/null || die "go is not on PATH; cri-tools $CRI_TOOLS_VERSION is built from source"
mkdir -p "$TOOLS_DIR"
started=$SECONDS

if ! is_current crictl_version; then
  echo "building crictl $CRI_TOOLS_VERSION ($(go version))"
  GOBIN="$TOOLS_DIR" go install -ldflags "$GO_LDFLAGS" "$CRI_TOOLS_MODULE/cmd/crictl@$CRI_TOOLS_VERSION"
fi

if ! is_current critest_version; then
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
    go test -c -ldflags "$GO_LDFLAGS" -o "$TOOLS_DIR/critest.tmp" "$CRI_TOOLS_MODULE/cmd/critest"
  )
  mv "$TOOLS_DIR/critest.tmp" "$TOOLS_DIR/critest"
fi

echo "built cri-tools $CRI_TOOLS_VERSION in $((SECONDS - started))s"
report
