// Public surface of the build-runner's pure (broker-free) core modules.
export {
  formatPipelineError,
  parsePipeline,
  PIPELINE_FILE_NAME,
  type ParsePipelineResult,
  type Pipeline,
  type PipelineError,
  type PipelineStep,
} from '@kiln/pipeline';
export { DEFAULT_BUILD_TIMEOUT_MS, parseDuration, type DurationResult } from '@kiln/pipeline';
export { checkout, type CheckoutOptions, type CheckoutResult } from './workspace/git-checkout';
export { redactUrl } from '@kiln/git';
export {
  DEFAULT_KILL_GRACE_MS,
  runStep,
  type RunStepOptions,
  type StepOutcome,
  type StepOutputLine,
  type StepResult,
} from './steps/step-process';
export { LogBatcher, type LogBatcherOptions } from './logs/log-batcher';
export type { LogLine, LogStream } from './logs/log-line';
export { createMasker } from './logs/secret-masker';
