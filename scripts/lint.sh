#!/usr/bin/env bash
# The lint and format gates, run by CI and by `npm run lint`: a plain sequence of
# checks, each failing the script on any finding. Add more checks as further lines.
#
#   eslint    type-aware (typescript-eslint recommendedTypeChecked), eslint.config.js;
#             needs src/generated (npm run build:proto) for the CRI types
#   prettier  formatting, .prettierrc.json and .prettierignore
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

npx eslint --max-warnings 0 .
npx prettier --check .
