import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { INestApplication } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { HttpErrorFilter } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';
import { APP_MODULES, loadDashboardAssets } from './assets';
import { DashboardController } from './dashboard.controller';
import { ANSI_JS } from './web/ansi';
import { source } from './web/source';

interface Segment {
  text: string;
  fg: string | null;
  bold: boolean;
}

/** The browser module ansi.js, run here (its exports as functions). */
function loadAnsi(): { parseAnsi: (s: string) => Segment[]; stripAnsi: (s: string) => string } {
  const body = ANSI_JS.replace(/^export /gm, '');
  return new Function(`${body}\nreturn { parseAnsi, stripAnsi };`)();
}

describe('dashboard browser sources', () => {
  it('keeps browser code verbatim: backslashes as written, \\` and \\${ unescaped', () => {
    expect(source`a \` b \${x} c /\x1b\[/ d`).toBe('a ` b ${x} c /\\x1b\\[/ d');
  });

  it('every app module is a valid ES module', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-dashboard-'));
    try {
      for (const [name, code] of Object.entries(APP_MODULES)) {
        const file = join(dir, name.replace(/\.js$/, '.mjs'));
        writeFileSync(file, code);
        expect(() => execFileSync(process.execPath, ['--check', file], { stdio: 'pipe' })).not.toThrow();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every import resolves: relative ones to an app module, bare ones through the import map', () => {
    const { importMap } = loadDashboardAssets();
    expect(Object.keys(importMap).sort()).toEqual(['htm', 'preact', 'preact/hooks']);
    for (const [name, code] of Object.entries(APP_MODULES)) {
      for (const m of code.matchAll(/^import .* from '([^']+)';$/gm)) {
        const spec = m[1];
        if (spec.startsWith('./')) expect({ name, spec, ok: spec.slice(2) in APP_MODULES }).toEqual({ name, spec, ok: true });
        else expect({ name, spec, ok: spec in importMap }).toEqual({ name, spec, ok: true });
      }
    }
  });
});

describe('ansi.js', () => {
  const { parseAnsi, stripAnsi } = loadAnsi();

  it('plain text is one unstyled segment; an empty line none', () => {
    expect(parseAnsi('hello')).toEqual([{ text: 'hello', fg: null, bold: false }]);
    expect(parseAnsi('')).toEqual([]);
  });

  it('foreground colours 30–37 and 90–97, bold, and their resets', () => {
    expect(parseAnsi('\x1b[31mred\x1b[0m plain')).toEqual([
      { text: 'red', fg: 'red', bold: false },
      { text: ' plain', fg: null, bold: false },
    ]);
    expect(parseAnsi('\x1b[1;92mok\x1b[22m thin\x1b[39m none')).toEqual([
      { text: 'ok', fg: 'bright-green', bold: true },
      { text: ' thin', fg: 'bright-green', bold: false },
      { text: ' none', fg: null, bold: false },
    ]);
    expect(parseAnsi('\x1b[1mB\x1b[mN')).toEqual([
      { text: 'B', fg: null, bold: true },
      { text: 'N', fg: null, bold: false },
    ]);
    expect(parseAnsi('\x1b[30mk\x1b[37mw\x1b[90mK\x1b[97mW').map((s) => s.fg)).toEqual(['black', 'white', 'bright-black', 'bright-white']);
  });

  it('skips 256-colour and true-colour arguments instead of reading them as codes', () => {
    // 38;5;31 is a 256-colour, not "red"; 38;2;1;32;3 a true colour, not "green"
    expect(parseAnsi('\x1b[38;5;31mx\x1b[38;2;1;32;3my\x1b[48;5;1;34mz')).toEqual([
      { text: 'xy', fg: null, bold: false },
      { text: 'z', fg: 'blue', bold: false },
    ]);
  });

  it('removes every other escape sequence and control character', () => {
    const text = '\x1b[2K\x1b[1Gclear \x1b]0;title\x07title \x1b]8;;https://x.test\x1b\\link\x1b]8;;\x1b\\ \x1b(Bcharset \x1b[?25lcursor\x07\x08 done';
    expect(stripAnsi(text)).toBe('clear title link charset cursor done');
    expect(parseAnsi('tab\there')).toEqual([{ text: 'tab\there', fg: null, bold: false }]);
  });

  it('shows the last state of a line redrawn with carriage returns', () => {
    expect(stripAnsi('progress 10%\rprogress 100%')).toBe('progress 100%');
    expect(stripAnsi('done\r')).toBe('done');
  });
});

describe('DashboardController', () => {
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    const mod = await Test.createTestingModule({
      controllers: [DashboardController],
      providers: [{ provide: APP_FILTER, useFactory: () => new HttpErrorFilter(new Logger('api-test', {}, 'error')) }],
    }).compile();
    app = mod.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${((app.getHttpServer() as Server).address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app?.close();
  });

  it('serves the page with an import map, a CSP naming only this origin, and no external URL', async () => {
    const r = await fetch(`${base}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(r.headers.get('cache-control')).toBe('no-cache');
    const html = await r.text();
    const map = /<script type="importmap">(.*?)<\/script>/s.exec(html)![1];
    expect(JSON.parse(map).imports).toEqual({
      preact: expect.stringMatching(/^\.\/assets\/vendor\/preact@\d+\.\d+\.\d+\/preact\.mjs$/),
      'preact/hooks': expect.stringMatching(/^\.\/assets\/vendor\/preact@\d+\.\d+\.\d+\/hooks\.mjs$/),
      htm: expect.stringMatching(/^\.\/assets\/vendor\/htm@\d+\.\d+\.\d+\/htm\.mjs$/),
    });
    const csp = r.headers.get('content-security-policy')!;
    expect(csp).toContain(`script-src 'self' 'sha256-${createHash('sha256').update(map).digest('base64')}'`);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).toContain('<script type="module" src="./assets/app.js"></script>');
  });

  it('serves every module of the page with a JavaScript type; vendor files immutable, app files revalidated', async () => {
    const { files, importMap } = loadDashboardAssets();
    for (const url of Object.values(importMap)) {
      const r = await fetch(base + url.slice(1));
      expect([url, r.status, r.headers.get('content-type'), r.headers.get('cache-control')]).toEqual([url, 200, 'text/javascript; charset=utf-8', 'public, max-age=31536000, immutable']);
    }
    for (const name of Object.keys(APP_MODULES)) {
      const r = await fetch(`${base}/assets/${name}`);
      expect([name, r.status, r.headers.get('content-type'), r.headers.get('cache-control')]).toEqual([name, 200, 'text/javascript; charset=utf-8', 'no-cache']);
      expect(await r.text()).toBe(APP_MODULES[name]);
    }
    const css = await fetch(`${base}/assets/app.css`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    // the vendored file is the installed package's ES module build, byte for byte
    const preact = await fetch(base + importMap.preact.slice(1));
    expect(Buffer.from(await preact.arrayBuffer()).equals(readFileSync(require.resolve('preact')))).toBe(true);
    expect([...files.keys()].filter((k) => k.endsWith('.map')).length).toBeGreaterThanOrEqual(1);
  });

  it('answers 304 to a matching If-None-Match and 404 (JSON) to an unknown file', async () => {
    const first = await fetch(`${base}/assets/app.js`);
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const again = await fetch(`${base}/assets/app.js`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    const missing = await fetch(`${base}/assets/nope.js`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'not_found', message: 'no dashboard file /assets/nope.js' });
    const traversal = await fetch(`${base}/assets/vendor/..%2f..%2fpackage.json`);
    expect(traversal.status).toBe(404);
  });
});
