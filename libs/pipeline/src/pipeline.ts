import { LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import type { DeploySpec } from '@kiln/contracts';
import { describeValue } from './describe-value';
import { formatPath } from './format-path';
import { DEPLOY_KEYS, deployDocumentSchema, pipelineSchema, STEP_KEYS, TOP_LEVEL_KEYS, WARMUP_KEYS } from './pipeline-schema';
import { locateYamlPath, type LocateTarget } from './yaml-location';

/** One step of a pipeline, as the runner executes it. */
export interface PipelineStep {
  /** Unique (within the pipeline) human-readable step name. */
  name: string;
  /** Script run with `bash -eo pipefail -c`. */
  run: string;
  /** Step timeout in milliseconds; absent when the file sets none (the build timeout still applies). */
  timeoutMs?: number;
  /** Extra environment variables for this step; values are always strings. */
  env: Record<string, string>;
  /**
   * Build cache of the step: `key` (may use `${{ hashFiles('...') }}`, `${{ branch }}`,
   * `${{ env.NAME }}`), the `paths` to save, and `restoreKeys` prefixes for a partial hit.
   */
  cache?: { key: string; paths: string[]; restoreKeys: string[] };
}

/** A validated `.kiln.yml` pipeline. */
export interface Pipeline {
  /** Whole-build timeout in milliseconds (default 20 minutes). */
  timeoutMs: number;
  /** Steps in file order; never empty. */
  steps: PipelineStep[];
}

/** Why a pipeline file was rejected, with a 1-based position in the file. */
export interface PipelineError {
  /** 1-based line number. */
  line: number;
  /** 1-based column number. */
  column: number;
  /** Human-readable message, prefixed with the offending path when there is one (`steps[1].run: expected a string`). */
  message: string;
}

/** Result of {@link parsePipeline}. */
export type ParsePipelineResult = { ok: true; pipeline: Pipeline } | { ok: false; error: PipelineError };

/** Result of {@link parseDeploy}: the `deploy` section (null when the file has none). */
export type ParseDeployResult = { ok: true; deploy: DeploySpec | null } | { ok: false; error: PipelineError };

/** Name of the pipeline file, used in formatted errors. */
export const PIPELINE_FILE_NAME = '.kiln.yml';

type Issue = z.core.$ZodIssue;

/**
 * Parses and validates the text of a `.kiln.yml` file. Never throws: YAML syntax errors and
 * schema errors are both reported as a {@link PipelineError} pointing at the offending line and
 * column. When several problems exist, the one that comes first in the file is reported.
 */
export function parsePipeline(text: string): ParsePipelineResult {
  const r = validate(pipelineSchema, readYaml(text));
  return r.ok ? { ok: true, pipeline: r.value } : r;
}

/**
 * Reads the `deploy` section of a `.kiln.yml` file (the deployer's view of the file; the
 * build's own keys are checked by {@link parsePipeline}). Never throws: errors point at the
 * line and column like {@link parsePipeline}'s.
 */
export function parseDeploy(text: string): ParseDeployResult {
  const r = validate(deployDocumentSchema, readYaml(text));
  return r.ok ? { ok: true, deploy: r.value } : r;
}

/**
 * {@link parsePipeline} and {@link parseDeploy} of one file, its YAML parsed once: what an
 * agent reads between its build's start and its first step.
 */
export function parsePipelineFile(text: string): { pipeline: ParsePipelineResult; deploy: ParseDeployResult } {
  const yaml = readYaml(text);
  const p = validate(pipelineSchema, yaml);
  const d = validate(deployDocumentSchema, yaml);
  return { pipeline: p.ok ? { ok: true, pipeline: p.value } : p, deploy: d.ok ? { ok: true, deploy: d.value } : d };
}

type Yaml = { ok: true; doc: Document; lineCounter: LineCounter; data: unknown } | { ok: false; error: PipelineError };

function readYaml(text: string): Yaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });

  const syntaxError = doc.errors[0];
  if (syntaxError) {
    const { line, col } = lineCounter.linePos(syntaxError.pos[0]);
    return { ok: false, error: { line, column: col, message: firstLine(syntaxError.message) } };
  }

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { ok: false, error: { line: 1, column: 1, message: err instanceof Error ? err.message : String(err) } };
  }
  if (data === null || data === undefined) {
    return { ok: false, error: { line: 1, column: 1, message: 'pipeline file is empty' } };
  }
  return { ok: true, doc, lineCounter, data };
}

function validate<T>(schema: z.ZodType<T>, yaml: Yaml): { ok: true; value: T } | { ok: false; error: PipelineError } {
  if (!yaml.ok) return yaml;
  const { doc, lineCounter, data } = yaml;
  const parsed = schema.safeParse(data);
  if (parsed.success) return { ok: true, value: parsed.data };

  const errors = parsed.error.issues.flatMap((issue) => issueToErrors(issue, data, doc, lineCounter));
  errors.sort((a, b) => a.line - b.line || a.column - b.column);
  return { ok: false, error: errors[0] ?? { line: 1, column: 1, message: 'invalid pipeline' } };
}

/** Formats an error for build logs and commit statuses: `.kiln.yml line 4, column 5: steps[1].run: expected a string`. */
export function formatPipelineError(e: PipelineError): string {
  return `${PIPELINE_FILE_NAME} line ${e.line}, column ${e.column}: ${e.message}`;
}

function issueToErrors(issue: Issue, data: unknown, doc: Document, lineCounter: LineCounter): PipelineError[] {
  const path = issue.path;
  const at = (p: readonly PropertyKey[], target: LocateTarget, message: string): PipelineError => {
    const pos = locateYamlPath(doc, lineCounter, p, target);
    const where = formatPath(p);
    return { line: pos.line, column: pos.column, message: where ? `${where}: ${message}` : message };
  };

  switch (issue.code) {
    case 'unrecognized_keys': {
      const isTop = path.length === 0;
      const allowed = allowedKeys(path).join(', ');
      return issue.keys.map((key) => {
        const pos = locateYamlPath(doc, lineCounter, [...path, key], 'key');
        const what = isTop ? 'unknown top-level key' : isStepPath(path) ? `${formatPath(path)}: unknown step key` : `${formatPath(path)}: unknown key`;
        const message = `${what} '${key}'${allowed ? ` (allowed: ${allowed})` : ''}`;
        return { line: pos.line, column: pos.column, message };
      });
    }
    case 'invalid_type': {
      const found = valueAt(data, path);
      if (!found.exists) {
        const parent = path.slice(0, -1);
        const key = String(path[path.length - 1]);
        const pos = locateYamlPath(doc, lineCounter, parent, 'value');
        const where = formatPath(parent);
        const message = `missing required key '${key}'`;
        return [{ line: pos.line, column: pos.column, message: where ? `${where}: ${message}` : message }];
      }
      if (path.length === 0) {
        return [at(path, 'value', `expected a mapping with a 'steps' list, got ${describeValue(found.value)}`)];
      }
      if (issue.expected === 'int' && typeof found.value === 'number') return [at(path, 'value', 'must be a whole number')];
      return [at(path, 'value', `expected ${describeExpected(issue.expected)}, got ${describeValue(found.value)}`)];
    }
    case 'invalid_union': {
      const found = valueAt(data, path);
      return [at(path, 'value', `${issue.message}, got ${describeValue(found.value)}`)];
    }
    case 'invalid_key': {
      const key = `'${String(path[path.length - 1])}'`;
      const detail = issue.issues[0]?.message ?? `${issue.message} {key}`;
      return [at(path, 'key', detail.replace('{key}', key))];
    }
    default:
      return [at(path, 'value', issue.message)];
  }
}

function allowedKeys(path: readonly PropertyKey[]): readonly string[] {
  if (path.length === 0) return TOP_LEVEL_KEYS;
  if (isStepPath(path)) return STEP_KEYS;
  const where = formatPath(path);
  if (where === 'deploy') return DEPLOY_KEYS;
  if (where === 'deploy.warmup') return WARMUP_KEYS;
  return [];
}

function isStepPath(path: readonly PropertyKey[]): boolean {
  return path.length === 2 && path[0] === 'steps' && typeof path[1] === 'number';
}

function describeExpected(expected: string): string {
  switch (expected) {
    case 'object':
    case 'record':
    case 'map':
      return 'a mapping';
    case 'array':
      return 'a list';
    case 'string':
      return 'a string';
    case 'number':
    case 'int':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    default:
      return expected;
  }
}

function valueAt(data: unknown, path: readonly PropertyKey[]): { exists: boolean; value: unknown } {
  let current: unknown = data;
  for (const segment of path) {
    if (current === null || typeof current !== 'object') return { exists: false, value: undefined };
    if (!Object.prototype.hasOwnProperty.call(current, segment)) return { exists: false, value: undefined };
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return { exists: current !== undefined, value: current };
}

function firstLine(message: string): string {
  return message.split('\n')[0]?.trim() ?? message;
}
