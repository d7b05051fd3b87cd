import { Controller, Get, Header } from '@nestjs/common';
import { DASHBOARD_HTML } from './dashboard.html';

/** A small dashboard (plain HTML + EventSource), served at `/`. */
@Controller()
export class DashboardController {
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  index(): string {
    return DASHBOARD_HTML;
  }
}
