#!/usr/bin/env bash
# The whole suite, as `npm test` and CI run it: Rust unit tests, a build, then every
# ava test (unit, native, e2e) against the real crictl and critest, then a real kubelet on
# crion and on containerd.
#
#   scripts/test.sh [ava args]          everything
#   scripts/test.sh --e2e [ava args]    build, then only the e2e tests (no cargo test)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

started=$SECONDS
stage="cri-tools check"
summary() {
  local rc=$?
  if [[ $rc -eq 0 ]]; then
    echo "crion test suite: PASSED in $((SECONDS - started))s"
  else
    echo "crion test suite: FAILED at stage '$stage' (exit $rc) after $((SECONDS - started))s" >&2
  fi
}
trap summary EXIT

tools_dir="$(bash scripts/cri-tools.sh path)"
export CRION_CRICTL="${CRION_CRICTL:-$tools_dir/crictl}"
export CRION_CRITEST="${CRION_CRITEST:-$tools_dir/critest}"
export CRION_KUBELET="${CRION_KUBELET:-$(bash scripts/kubelet.sh path)}"
for tool in "$CRION_CRICTL" "$CRION_CRITEST" "$CRION_KUBELET"; do
  if [[ ! -x "$tool" ]]; then
    echo "test.sh: $tool is missing; build it with: bash scripts/setup.sh (or scripts/cri-tools.sh, scripts/kubelet.sh)" >&2
    exit 1
  fi
done

ava_files=()
if [[ ${1:-} == --e2e ]]; then
  shift
  ava_files=('dist/__test__/e2e/**/*.test.js')
else
  stage="cargo test"
  echo "==> cargo test --workspace --locked"
  cargo test --workspace --locked
fi

stage="build"
echo "==> npm run build"
npm run build

stage="ava"
echo "==> ava ${ava_files[*]:-(unit, native, e2e)}"
npx ava "${ava_files[@]}" "$@"

# A real kubelet on crion, then the same scenarios on containerd as the control: one file at a
# time (ava.kubelet.config.js), since two kubelets on one host share a device manager socket.
# A run narrowed by ava arguments (files, --match) is a targeted one: it leaves this stage out.
if (($# > 0)); then
  echo "==> kubelet e2e left out: ava arguments given ($*); run it alone with: npx ava --config ava.kubelet.config.js"
  exit 0
fi
stage="kubelet e2e"
echo "==> ava --config ava.kubelet.config.js (a kubelet on crion, then on containerd)"
npx ava --config ava.kubelet.config.js
