import { CanActivate, ExecutionContext, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import type { Request } from 'express';
import { ADMIN_TOKEN } from './tokens';
import { isAuthorized } from './admin-token';

/** Bearer-token auth on every `/api/*` route. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(@Inject(ADMIN_TOKEN) private readonly token: string) {}
  canActivate(ctx: ExecutionContext): boolean {
    if (ctx.getType() !== 'http') return true;
    const req = ctx.switchToHttp().getRequest<Request>();
    if (!req.path.startsWith('/api/')) return true;
    if (!isAuthorized(req, this.token)) throw new UnauthorizedException('missing or invalid bearer token');
    return true;
  }
}
