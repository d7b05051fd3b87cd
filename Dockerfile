# syntax=docker/dockerfile:1
# One image for every Kiln service; KILN_SERVICE picks which one runs:
#   api | ingest | scheduler | pool-manager | log-store | deployer | git-status | build-runner
# (build-runner agents are normally started by pool-manager's process driver inside the
# pool-manager container, which is why the runtime image carries git and bash.)
#
#   docker build -t kiln .
#   docker run -e KILN_SERVICE=api -e NATS_URL=... -e DATABASE_URL=... -p 8080:8080 kiln

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- builder: install everything, compile the one TypeScript program, drop dev deps ----
FROM ${NODE_IMAGE} AS builder
# `npm ci` needs package-lock.json in sync with package.json; `--build-arg NPM_INSTALL="npm install"`
# is the escape hatch while it is not.
ARG NPM_INSTALL="npm ci"
WORKDIR /app
COPY package.json package-lock.json ./
# No install script is needed to compile (the only ones are nx, @parcel/watcher, protobufjs).
RUN ${NPM_INSTALL} --ignore-scripts --no-audit --no-fund
COPY tsconfig.base.json tsconfig.build.json ./
COPY tools ./tools
COPY libs ./libs
COPY apps ./apps
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
# git + bash: the build-runner agent checks out repositories and runs steps with bash.
# tini: PID 1 that forwards SIGTERM and reaps orphaned step processes.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git bash ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*

ARG KILN_SERVICE=api
ENV NODE_ENV=production \
    KILN_SERVICE=${KILN_SERVICE} \
    KILN_WORK_ROOT=/var/lib/kiln/workers

WORKDIR /app
COPY --from=builder /app/package.json ./package.json
COPY --from=builder /app/tsconfig.base.json ./tsconfig.base.json
COPY --from=builder /app/node_modules ./node_modules
COPY --from=builder /app/dist ./dist
COPY --from=builder /app/tools/register-paths.js ./tools/register-paths.js
COPY deploy/docker-entrypoint.sh deploy/healthcheck.js ./deploy/
# dist/agent is the agent's: the first agent to finish a build writes V8's code cache there (tools/agent-start.js)
RUN chmod 0755 deploy/docker-entrypoint.sh \
 && mkdir -p /var/lib/kiln/workers /var/lib/kiln/code-cache \
 && chown -R node:node /var/lib/kiln \
 && chown node:node /app/dist/agent

# the `node` user (uid 1000) ships with the Node image
USER node

EXPOSE 8080 8081 8082 8083 8084 8085 8086 8090
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "/app/deploy/healthcheck.js"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["/app/deploy/docker-entrypoint.sh"]
