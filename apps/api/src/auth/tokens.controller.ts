import { Body, Controller, Delete, ForbiddenException, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { z } from 'zod';
import { NotFoundError } from '@kiln/contracts';
import { validate } from '../validation';
import { Principal, TokenStore } from './token-store';
import { TOKEN_STORE } from './tokens';

export const CreateToken = z.object({
  name: z.string().trim().min(1).max(100),
  scope: z.enum(['read', 'admin']).default('read'),
});

function admin(req: { principal?: Principal }): void {
  if (req.principal?.scope !== 'admin') throw new ForbiddenException('managing tokens needs an admin token');
}

/** API tokens: created (shown once), listed (never the token), revoked. Admin only. */
@Controller('api/tokens')
export class TokensController {
  constructor(@Inject(TOKEN_STORE) private readonly tokens: TokenStore) {}

  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown, @Req() req: { principal?: Principal }) {
    admin(req);
    const input = validate(CreateToken, body);
    const { token, record } = await this.tokens.create(input.name, input.scope);
    return { id: record.id, name: record.name, scope: record.scope, createdAt: record.createdAt, token };
  }

  @Get()
  async list(@Req() req: { principal?: Principal }) {
    admin(req);
    return { items: (await this.tokens.list()).map(({ sha256: _hash, ...t }) => t) };
  }

  @Delete(':id')
  async revoke(@Param('id') id: string, @Req() req: { principal?: Principal }) {
    admin(req);
    if (!(await this.tokens.revoke(id))) throw new NotFoundError(`token ${id} not found`);
    return { revoked: id };
  }
}
