#!/usr/bin/env bash
# The whole suite, as `npm test` and CI run it: Rust unit tests, a build, then every
# ava test (unit, native, e2e) against the real crictl and critest.
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
for tool in "$CRION_CRICTL" "$CRION_CRITEST"; do
  if [[ ! -x "$tool" ]]; then
    echo "test.sh: $tool is missing; build it with: bash scripts/cri-tools.sh" >&2
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
