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

export const ProjectEventDefinitions = [ProjectCreatedV1] as const;
export type ProjectEvent = EventOf<(typeof ProjectEventDefinitions)[number]>;
export const projectCodec = new EventCodec<ProjectEvent>(ProjectEventDefinitions);
