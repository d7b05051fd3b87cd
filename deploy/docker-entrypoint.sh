#!/bin/sh
# Starts the Kiln service named by KILN_SERVICE (exec: node receives SIGTERM directly).
set -eu
cd "$(dirname "$0")/.."  # /app in the image
: "${KILN_SERVICE:?set KILN_SERVICE to one of: api ingest scheduler pool-manager log-store deployer git-status build-runner}"
main="dist/apps/${KILN_SERVICE}/src/main.js"
if [ ! -f "$main" ]; then
  echo "kiln: unknown KILN_SERVICE='${KILN_SERVICE}' (no $main)" >&2
  echo "kiln: available: $(ls dist/apps | tr '\n' ' ')" >&2
  exit 64
fi
# the agent runs from its bundle (one file: it starts for every build, in ~0.5 s of CPU instead of ~0.8 s),
# through the loader that keeps V8's code cache beside it (~0.1 s of CPU less once a build wrote the cache)
if [ "$KILN_SERVICE" = build-runner ] && [ -f dist/agent/start-build-runner.js ]; then
  exec node dist/agent/start-build-runner.js "$@"
fi
exec node -r ./tools/register-paths.js "$main" "$@"
