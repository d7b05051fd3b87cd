import { z } from 'zod';
import { defineEvent, EventCodec, EventOf } from '../registry';

const iso = z.string().min(1);
const id = z.string().regex(/^[A-Za-z0-9_-]+$/);

export const Providers = ['github', 'gitlab'] as const;
export type Provider = (typeof Providers)[number];

export const ProjectCreatedV1 = defineEvent(
  'ProjectCreated',
  1,
  z.object({
    projectId: id,
    name: z.string().min(1),
    repoUrl: z.string().min(1),
    provider: z.enum(Providers),
    /** Webhook secret, encrypted at rest (`enc:v1:` + AES-256-GCM with `KILN_SECRET_KEY`). */
    webhookSecret: z.string().min(1),
    /** Branches that trigger builds; null means every branch and tag. */
    branches: z.array(z.string()).nullable(),
    /** At most this many builds of the project run at once. */
    concurrency: z.number().int().positive(),
    createdAt: iso,
  }),
);

/**
 * Name of a project secret: an environment variable name (letters, digits, `_`, not
 * starting with a digit, at most 128 characters). Steps get each secret under its name.
 */
export const SecretNameSchema = z
  .string()
  .max(128, 'at most 128 characters')
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'letters, digits and _, not starting with a digit (an environment variable name)');

/** A secret value as stored in events: never plaintext (`enc:v1:` + AES-256-GCM with `KILN_SECRET_KEY`). */
const EncryptedSecretSchema = z.string().startsWith('enc:v1:', 'must be encrypted (enc:v1:...)');

/**
 * A project secret was set (created or replaced). Agents read it from the project's events,
 * decrypt it with `KILN_SECRET_KEY`, pass it to every step as an environment variable and
 * mask it (`***`) in the build log before a line leaves the worker.
 */
export const ProjectSecretSetV1 = defineEvent(
  'ProjectSecretSet',
  1,
  z.object({
    projectId: id,
    name: SecretNameSchema,
    /** The value, encrypted at rest; the API never returns it. */
    value: EncryptedSecretSchema,
    setAt: iso,
  }),
);

/** A project secret was removed: later builds no longer get it. */
export const ProjectSecretRemovedV1 = defineEvent(
  'ProjectSecretRemoved',
  1,
  z.object({ projectId: id, name: SecretNameSchema, removedAt: iso }),
);

/** Settings changed after creation; absent fields are unchanged. */
export const ProjectSettingsChangedV1 = defineEvent(
  'ProjectSettingsChanged',
  1,
  z.object({
    projectId: id,
    concurrency: z.number().int().positive().optional(),
    branches: z.array(z.string()).nullable().optional(),
    /** Cancel queued or running builds of a branch when a newer push to it arrives. */
    autoCancel: z.boolean().optional(),
    changedAt: iso,
  }),
);

/**
 * The project's webhook secret was replaced (rotation). Ingest verifies deliveries with the
 * new secret at once and, until `previousValidUntil`, with the one it replaced too, so
 * deliveries the git host signed just before the user pasted the new secret are not lost.
 * A secret replaced earlier than that is no longer accepted (only one previous is kept).
 */
export const ProjectWebhookSecretRotatedV1 = defineEvent(
  'ProjectWebhookSecretRotated',
  1,
  z.object({
    projectId: id,
    /** The new secret, encrypted at rest (`enc:v1:` + AES-256-GCM with `KILN_SECRET_KEY`). */
    webhookSecret: EncryptedSecretSchema,
    /** Until when the replaced secret is still accepted; null: it is rejected at once. */
    previousValidUntil: iso.nullable(),
    rotatedAt: iso,
  }),
);

/**
 * The project was deleted. Final: no command is accepted on it afterwards. Ingest answers
 * its webhooks 404, the scheduler cancels its unfinished builds, the API no longer lists
 * it; the history of its builds is kept.
 */
export const ProjectDeletedV1 = defineEvent('ProjectDeleted', 1, z.object({ projectId: id, deletedAt: iso }));

export const ProjectEventDefinitions = [
  ProjectCreatedV1,
  ProjectSecretSetV1,
  ProjectSecretRemovedV1,
  ProjectSettingsChangedV1,
  ProjectWebhookSecretRotatedV1,
  ProjectDeletedV1,
] as const;
export type ProjectEvent = EventOf<(typeof ProjectEventDefinitions)[number]>;
export const projectCodec = new EventCodec<ProjectEvent>(ProjectEventDefinitions);
