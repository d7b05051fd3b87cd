/**
 * The JSON the Kiln API answers with, as the CLI reads it (see apps/api/src/**\/*.controller.ts
 * and apps/log-store/src/logs/logs.controller.ts). Only the fields the CLI uses are typed
 * strictly; the rest pass through to `--json` untouched.
 */
import type { BuildStatus, BuildSource, LogLine, Provider } from '@kiln/contracts';

export interface ProjectView {
  id: string;
  name: string;
  repoUrl: string;
  provider: Provider;
  branches: string[] | null;
  concurrency: number;
  createdAt: string;
}

/** `POST /api/projects` → the project plus what to paste into the git host. */
export interface CreatedProject extends ProjectView {
  webhook: { url: string; secret: string; contentType: string; events: string[] };
}

/** `POST /api/projects/:id/webhook-secret/rotate` → the new secret, shown once. */
export interface RotatedWebhookSecret {
  id: string;
  rotatedAt: string;
  /** Until when the replaced secret is still accepted; null: no longer. */
  previousSecretValidUntil: string | null;
  webhook: { url: string; secret: string; contentType: string; events: string[] };
}

export interface CreateProjectBody {
  name: string;
  repoUrl: string;
  provider: Provider;
  webhookSecret: string;
  branches?: string[] | null;
  concurrency?: number;
}

export type StepStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'timed_out' | 'cancelled';

export interface StepView {
  index: number;
  name: string;
  status: StepStatus;
  exitCode: number | null;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
}

/** `GET /api/builds/:id`: the build folded from its events. */
export interface BuildView {
  id: string;
  projectId: string;
  status: BuildStatus;
  trigger: 'push' | 'manual' | 'retry';
  attempt: number;
  workerId: string | null;
  source: BuildSource;
  cancelRequested: boolean;
  reason: string | null;
  exitCode: number | null;
  requestedAt: string;
  queuedAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  steps: StepView[];
}

/** `GET /api/projects/:id/builds`: newest first. */
export interface BuildPage {
  items: BuildView[];
  nextCursor: string | null;
}

/** One log line as log-store serves it (history item and SSE `line` event data). */
export type LogLineView = LogLine & { cursor: string; attempt: number };

/** `GET /api/builds/:id/logs`. */
export interface LogPage {
  items: LogLineView[];
  nextCursor: string | null;
  /** The end record was reached: nothing follows. */
  complete: boolean;
  /** The build's result, when `complete`. */
  status?: string;
}

/** The error body of every non-2xx answer. */
export interface ErrorBody {
  error: string;
  message: string;
  details?: unknown;
}
