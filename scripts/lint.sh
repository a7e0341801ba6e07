#!/usr/bin/env bash
# The lint and format gates (`npm run lint`): a plain sequence of checks. Each one
# runs even when an earlier one failed, so one run shows every finding; the script
# exits non-zero if any failed. Add a check as one more `... || failed=1` line.
#
#   eslint    type-aware (typescript-eslint recommendedTypeChecked), eslint.config.js;
#             it needs the generated CRI types (src/generated, npm run build:proto),
#             without which every CRI message would be an error type
#   prettier  formatting, .prettierrc.json and .prettierignore
#   rustfmt   cargo fmt --check over the workspace
#   clippy    every lint a warning, every warning an error, tests included
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[[ -d src/generated ]] || node scripts/gen-proto-types.mjs || exit 1

failed=0
npx eslint --max-warnings 0 . || failed=1
npx prettier --check . || failed=1
cargo fmt --all -- --check || failed=1
cargo clippy --workspace --all-targets --locked -- -D warnings || failed=1
exit "$failed"
