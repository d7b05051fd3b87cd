// The `.kiln.yml` pipeline file: its syntax (zod schemas) and a parser whose errors name the
// line and column. Pure: no I/O. The build-runner reads the steps; the deployer the `deploy` section.
export {
  formatPipelineError,
  parseDeploy,
  parsePipeline,
  parsePipelineFile,
  PIPELINE_FILE_NAME,
  type ParseDeployResult,
  type ParsePipelineResult,
  type Pipeline,
  type PipelineError,
  type PipelineStep,
} from './pipeline';
export { DEFAULT_BUILD_TIMEOUT_MS, DEPLOY_DEFAULTS, DEPLOY_KEYS, WARMUP_KEYS } from './pipeline-schema';
export { MAX_DURATION_MS, parseDuration, type DurationResult } from './duration';
