#!/usr/bin/env bash
# The whole suite, as `npm test` and CI run it: the lint and format gates, Rust unit tests, a build, then every
# ava test (unit, native, e2e) against the real crictl and critest, then a real kubelet on
# crion and on containerd.
#
#   scripts/test.sh [ava args]          everything
#   scripts/test.sh --e2e [ava args]    build, then only the e2e tests (no lint, no cargo test)
#
# The ava stages' counts are added up into one closing line, `crion tests: P passed, F failed, S skipped`, which CI
# reads. A skipped test is one the host could not run (no root, a program or kernel feature missing: see
# __test__/helpers/host-requirements.ts); in CI (CI=true) as root that means the host is wrong, so the run fails.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

started=$SECONDS
stage="cri-tools check"
ava_logs="$(mktemp -d -t crion-test.XXXXXX)"
ava_runs=0
passed=0
failed=0
skipped=0
summary() {
  local rc=$?
  rm -rf "$ava_logs"
  if [[ $rc -eq 0 ]]; then
    echo "crion test suite: PASSED in $((SECONDS - started))s"
  else
    echo "crion test suite: FAILED at stage '$stage' (exit $rc) after $((SECONDS - started))s" >&2
  fi
  # The closing line, totals over the ava stages that ran.
  if ((ava_runs > 0)); then
    echo "crion tests: $passed passed, $failed failed, $skipped skipped"
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
  stage="lint"
  echo "==> npm run lint (eslint, prettier, cargo fmt, clippy)"
  bash scripts/lint.sh
  stage="cargo test"
  echo "==> cargo test --workspace --locked"
  cargo test --workspace --locked
fi

stage="build"
echo "==> npm run build"
npm run build

# Runs ava with its report also kept in a log and adds its counts to the totals; ava's exit status is
# returned as it is. Failed and skipped tests are counted from ava's summary ("1 test failed", "3 tests
# skipped"), passed ones from their "✔ title" lines, since the summary leaves them out when a test failed.
run_ava() {
  local log="$ava_logs/ava-$((++ava_runs)).log" rc=0
  local color=()
  # Through tee ava's stdout is no terminal; keep its colours when ours is one.
  [[ -t 1 ]] && color=(--color)
  npx ava "${color[@]}" "$@" | tee "$log" || rc=$?
  sed 's/\x1b\[[0-9;]*m//g' "$log" >"$log.plain"
  passed=$((passed + $(awk '/^  ✔ / && !/^  ✔ \[expected fail\]/ { n++ } END { print n + 0 }' "$log.plain")))
  failed=$((failed + $(ava_count "$log.plain" failed)))
  skipped=$((skipped + $(ava_count "$log.plain" skipped)))
  return "$rc"
}

# The number on the last "N test(s) <outcome>" line of an ava report, 0 when there is none.
ava_count() {
  awk -v outcome="$2" 'NF == 3 && $1 ~ /^[0-9]+$/ && $2 ~ /^tests?$/ && $3 == outcome { n = $1 } END { print n + 0 }' "$1"
}

# In CI as root every test must have run: a skip there means the host lacks what the suite needs.
check_skips() {
  stage="skip check"
  if [[ ${CI:-} == true && $EUID -eq 0 ]] && ((skipped > 0)); then
    echo "test.sh: $skipped test(s) skipped in a CI run as root; the host lacks what they need:" >&2
    grep -h -e '- \[skip\]' "$ava_logs"/*.plain >&2 || true
    exit 1
  fi
}

stage="ava"
echo "==> ava ${ava_files[*]:-(unit, native, e2e)}"
run_ava "${ava_files[@]}" "$@"

# A real kubelet on crion, then the same scenarios on containerd as the control: one file at a
# time (ava.kubelet.config.js), since two kubelets on one host share a device manager socket.
# A run narrowed by ava arguments (files, --match) is a targeted one: it leaves this stage out.
if (($# > 0)); then
  echo "==> kubelet e2e left out: ava arguments given ($*); run it alone with: npx ava --config ava.kubelet.config.js"
  check_skips
  exit 0
fi
stage="kubelet e2e"
echo "==> ava --config ava.kubelet.config.js (a kubelet on crion, then on containerd)"
run_ava --config ava.kubelet.config.js
check_skips
