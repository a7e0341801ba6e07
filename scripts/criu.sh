#!/usr/bin/env bash
# Builds CRIU, which checkpoint and restore drive through runc, from Debian's source of
# one pinned release. Debian 12's own criu (3.17.1) cannot read the vDSO layout of
# current kernels ("vdso: Unexpected rt vDSO area bounds"), and the criu of newer
# Debian releases needs a newer glibc, so the source is built against this machine's
# libraries. Its build dependencies come from apt (scripts/setup.sh).
#
#   scripts/criu.sh         build into the cache dir unless the binary there already reports the pinned version
#   scripts/criu.sh path    print the path of the criu binary
set -euo pipefail

CRIU_VERSION=4.1.1
CRIU_SOURCE_URL="http://deb.debian.org/debian/pool/main/c/criu/criu_${CRIU_VERSION}.orig.tar.xz"
CRIU_SOURCE_SHA256=f80a66cb3726bb2116266d4759ce3bcbfab7abdb6b6d430bf20dd41911717afe
TOOLS_DIR="${CRION_CRIU_DIR:-$HOME/.cache/crion/criu-$CRIU_VERSION}"
CRIU="$TOOLS_DIR/criu"

die() {
  echo "criu.sh: $*" >&2
  exit 1
}

case "${1:-build}" in
  path)
    echo "$CRIU"
    exit 0
    ;;
  build) ;;
  *) die "unknown command '$1' (expected: build, path)" ;;
esac

# `criu --version` prints "Version: 4.1.1"; a binary from another build would not.
if [[ -x $CRIU && "$("$CRIU" --version 2>/dev/null | head -1 || true)" == "Version: $CRIU_VERSION" ]]; then
  echo "criu $CRIU_VERSION already in $CRIU"
  exit 0
fi

started=$SECONDS
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
echo "downloading $CRIU_SOURCE_URL"
curl -fsSL --retry 3 -o "$scratch/source.tar.xz" "$CRIU_SOURCE_URL"
echo "$CRIU_SOURCE_SHA256  $scratch/source.tar.xz" | sha256sum --check --quiet - || die "criu source does not match its pinned sha256"
tar -xJf "$scratch/source.tar.xz" -C "$scratch"

echo "building criu $CRIU_VERSION"
# Only the criu binary: the docs need asciidoc and the library and tools are not used.
make -C "$scratch/criu-$CRIU_VERSION" -j"$(nproc)" criu >"$scratch/build.log" 2>&1 || {
  tail -n 40 "$scratch/build.log" >&2
  die "building criu $CRIU_VERSION failed"
}
mkdir -p "$TOOLS_DIR"
# Through a temporary name, so an interrupted copy never passes for a finished build.
install -m 0755 "$scratch/criu-$CRIU_VERSION/criu/criu" "$CRIU.tmp"
mv "$CRIU.tmp" "$CRIU"
echo "built criu $CRIU_VERSION in $((SECONDS - started))s: $CRIU"
