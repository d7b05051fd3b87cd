// Container health check: GET /healthz on the port of the service named by KILN_SERVICE
// (port variables and defaults as in libs/platform/config/src/config.ts). The build-runner
// agent opens no port: its health is its heartbeat, so it always reports healthy here.
const ports = {
  api: ['KILN_API_PORT', 8080],
  ingest: ['KILN_INGEST_PORT', 8081],
  'log-store': ['KILN_LOG_STORE_PORT', 8082],
  scheduler: ['KILN_SCHEDULER_PORT', 8083],
  'pool-manager': ['KILN_POOL_MANAGER_PORT', 8084],
  deployer: ['KILN_DEPLOYER_PORT', 8085],
  'git-status': ['KILN_GIT_STATUS_PORT', 8086],
};
const entry = ports[process.env.KILN_SERVICE || ''];
if (!entry) process.exit(0);
const port = process.env[entry[0]] || entry[1];
fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2500) })
  .then((res) => process.exit(res.ok ? 0 : 1))
  .catch(() => process.exit(1));
