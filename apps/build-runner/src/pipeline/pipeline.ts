// The pipeline file parser lives in the `@kiln/pipeline` library (the deployer reads the
// `deploy` section with it too); this module keeps the runner's existing import path.
export { formatPipelineError, parsePipeline, PIPELINE_FILE_NAME } from '@kiln/pipeline';
export type { ParsePipelineResult, Pipeline, PipelineError, PipelineStep } from '@kiln/pipeline';
