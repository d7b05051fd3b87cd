import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Put } from '@nestjs/common';
import { z } from 'zod';
import { KilnNames, NotFoundError, SecretNameSchema } from '@kiln/contracts';
import { isActive, loadOr404 } from '../aggregates/load-or-404';
import { encryptSecret, KilnConfig } from '@kiln/config';
import { Aggregates, EventStore } from '@kiln/event-store';
import { AGGREGATES, CONFIG, NAMES } from '@kiln/service-kit';
import { validate } from '../validation';

/**
 * Shortest secret value: the runner masks only values of at least this many characters
 * (masking "abc" would shred the log), so a shorter one could leak and is refused.
 */
export const MIN_SECRET_VALUE_LENGTH = 4;

export const SetSecret = z.object({
  value: z
    .string()
    .min(MIN_SECRET_VALUE_LENGTH, `at least ${MIN_SECRET_VALUE_LENGTH} characters (shorter values cannot be masked in logs)`)
    .max(64 * 1024, 'at most 64 KiB'),
});

const SecretName = z.object({ name: SecretNameSchema });

/**
 * Project secrets, write-only: `PUT` stores a value encrypted with `KILN_SECRET_KEY` (as a
 * `ProjectSecretSet` event), `GET` lists names and times only, `DELETE` removes one. Builds
 * started afterwards get each secret as an environment variable, masked in their logs.
 */
@Controller('api/projects/:id/secrets')
export class ProjectSecretsController {
  constructor(
    private readonly store: EventStore,
    @Inject(AGGREGATES) private readonly aggs: Aggregates,
    @Inject(NAMES) private readonly names: KilnNames,
    @Inject(CONFIG) private readonly cfg: KilnConfig,
  ) {}

  /** `{ items: [{ name, updatedAt }] }`, by name; never a value. */
  @Get()
  async list(@Param('id') projectId: string) {
    const { state } = await loadOr404(this.store, this.aggs.project, (id) => this.subject(id), 'project', projectId, isActive);
    const items = Object.entries(state.secrets ?? {})
      .map(([name, s]) => ({ name, updatedAt: s.setAt }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { items };
  }

  /** Body `{ value }`; answers `{ name, updatedAt }` (the value is never echoed). */
  @Put(':name')
  async set(@Param('id') projectId: string, @Param('name') rawName: string, @Body() body: unknown) {
    const { name } = validate(SecretName, { name: rawName });
    const { value } = validate(SetSecret, body);
    const now = new Date().toISOString();
    await this.store.handle(
      this.aggs.project,
      this.subject(projectId),
      { type: 'SetProjectSecret', projectId, name, value: encryptSecret(this.cfg.secretKey, value), now },
      { correlationId: projectId },
    );
    return { name, updatedAt: now };
  }

  @Delete(':name')
  @HttpCode(204)
  async remove(@Param('id') projectId: string, @Param('name') rawName: string): Promise<void> {
    const { name } = validate(SecretName, { name: rawName });
    await this.store.handle(this.aggs.project, this.subject(projectId), { type: 'RemoveProjectSecret', projectId, name, now: new Date().toISOString() }, { correlationId: projectId });
  }

  private subject(projectId: string): string {
    try {
      return this.names.subjects.project(projectId);
    } catch {
      throw new NotFoundError(`project ${projectId} not found`);
    }
  }
}
