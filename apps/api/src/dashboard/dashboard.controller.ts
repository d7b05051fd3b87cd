import { Controller, Get, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { NotFoundError } from '@kiln/contracts';
import { Asset, DashboardAssets, loadDashboardAssets } from './assets';

/**
 * The dashboard (Preact + htm as browser ES modules, no build step): the page at `/` and its
 * files at `/assets/*` — the app's modules, and Preact/htm served from node_modules under
 * `/assets/vendor/<package>@<version>/`. Public: the auth guard covers `/api/*` only; the
 * page asks for the token and sends it to the API.
 */
@Controller()
export class DashboardController {
  /** Read once at start. */
  private readonly assets: DashboardAssets = loadDashboardAssets();

  @Get()
  index(@Req() req: Request, @Res() res: Response): void {
    send(req, res, this.assets.index);
  }

  @Get('assets/*path')
  file(@Req() req: Request, @Res() res: Response): void {
    const found = this.assets.files.get(req.path);
    if (!found) throw new NotFoundError(`no dashboard file ${req.path}`);
    send(req, res, found);
  }
}

function send(req: Request, res: Response, a: Asset): void {
  res.setHeader('Content-Type', a.contentType);
  res.setHeader('Cache-Control', a.cacheControl);
  res.setHeader('ETag', a.etag);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  for (const [name, value] of Object.entries(a.headers)) res.setHeader(name, value);
  const ifNoneMatch = req.headers['if-none-match'];
  if (ifNoneMatch && ifNoneMatch.split(',').some((t) => t.trim() === a.etag || t.trim() === `W/${a.etag}` || t.trim() === '*')) {
    res.status(304).end();
    return;
  }
  res.status(200).send(a.body);
}
