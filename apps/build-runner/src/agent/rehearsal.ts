import { parseDeploy, parsePipeline } from '@kiln/pipeline';

/** A pipeline using what the parsers know: steps with env, timeout and cache, and a deploy. */
export const REHEARSAL_PIPELINE = [
  'timeout: 20m',
  'steps:',
  '  - name: install',
  '    run: npm ci',
  '    env: { NODE_ENV: test }',
  '    timeout: 5m',
  '    cache:',
  "      key: npm-${{ hashFiles('package-lock.json') }}",
  '      restoreKeys: [npm-]',
  '      paths: [node_modules]',
  '  - name: test',
  '    run: npm test',
  'deploy:',
  '  environment: production',
  '  start: node app.js',
  '  instances: 2',
  '  warmup:',
  '    paths: [/, /health]',
  '    timeout: 30s',
  '',
].join('\n');

/**
 * Runs the code a build's first moments run, once, before the worker says it is warm: a
 * fresh agent compiles each function on its first call, and an ephemeral worker's only
 * build would otherwise pay that between lease and first step. Returns the warm-up check.
 */
export function rehearse(): string {
  const pipeline = parsePipeline(REHEARSAL_PIPELINE);
  const deploy = parseDeploy(REHEARSAL_PIPELINE);
  if (!pipeline.ok || !deploy.ok || !deploy.deploy) throw new Error('the rehearsal pipeline no longer parses: the parsers changed');
  return 'pipeline parser rehearsed';
}
