import { CanActivate, ExecutionContext, ForbiddenException, HttpException, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import type { Request, Response } from 'express';
import { authorize } from './authorize';
import { RateLimiter } from './rate-limiter';
import { TokenStore } from './token-store';
import { RATE_LIMITER, TOKEN_STORE } from './tokens';

/** Bearer-token auth, scopes and rate limits on every `/api/*` route. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    @Inject(TOKEN_STORE) private readonly tokens: TokenStore,
    @Inject(RATE_LIMITER) private readonly limiter: RateLimiter,
  ) {}

  canActivate(ctx: ExecutionContext): boolean {
    if (ctx.getType() !== 'http') return true;
    const req = ctx.switchToHttp().getRequest<Request & { principal?: unknown }>();
    if (!req.path.startsWith('/api/')) return true;
    const d = authorize(req, this.tokens, this.limiter);
    if (d.ok) {
      req.principal = d.principal;
      return true;
    }
    if (d.status === 401) throw new UnauthorizedException(d.message);
    if (d.status === 403) throw new ForbiddenException(d.message);
    ctx.switchToHttp().getResponse<Response>().setHeader('Retry-After', String(d.retryAfter ?? 1));
    throw new HttpException(d.message, 429);
  }
}
