import { formatPipelineError, parseDeploy, parsePipeline, parsePipelineFile, type PipelineError } from './pipeline';

function errorOf(text: string): PipelineError {
  const r = parsePipeline(text);
  if (r.ok) throw new Error(`expected an error, got ${JSON.stringify(r.pipeline)}`);
  return r.error;
}

describe('parsePipeline', () => {
  it('parses a full pipeline with defaults and conversions', () => {
    const r = parsePipeline(
      [
        'steps:',
        '  - name: install',
        '    run: npm ci',
        '  - name: test',
        '    run: |',
        '      npm test',
        '      npm run lint',
        '    timeout: 5m',
        '    env:',
        '      CI: true',
        '      RETRIES: 3',
        '      NAME: kiln',
        'deploy:',
        '  target: prod',
        'cache:',
        '  - node_modules',
      ].join('\n'),
    );
    expect(r).toEqual({
      ok: true,
      pipeline: {
        timeoutMs: 20 * 60 * 1000,
        steps: [
          { name: 'install', run: 'npm ci', env: {} },
          {
            name: 'test',
            run: 'npm test\nnpm run lint\n',
            timeoutMs: 300_000,
            env: { CI: 'true', RETRIES: '3', NAME: 'kiln' },
          },
        ],
      },
    });
  });

  it('accepts a top-level timeout as seconds or a duration string', () => {
    const steps = 'steps:\n  - name: a\n    run: x\n';
    expect(parsePipeline(`timeout: 90\n${steps}`)).toMatchObject({ ok: true, pipeline: { timeoutMs: 90_000 } });
    expect(parsePipeline(`timeout: 1h30m\n${steps}`)).toMatchObject({ ok: true, pipeline: { timeoutMs: 5_400_000 } });
    expect(parsePipeline(`timeout: "45s"\n${steps}`)).toMatchObject({ ok: true, pipeline: { timeoutMs: 45_000 } });
  });

  it('follows YAML anchors and aliases', () => {
    const r = parsePipeline(
      'steps:\n  - name: a\n    run: x\n    env: &common\n      A: 1\n  - name: b\n    run: y\n    env: *common\n',
    );
    expect(r).toMatchObject({ ok: true, pipeline: { steps: [{ env: { A: '1' } }, { env: { A: '1' } }] } });
  });

  describe('errors', () => {
    it('reports an empty file (blank, whitespace or only comments) at line 1', () => {
      for (const text of ['', '   \n\n', '# nothing here\n', '---\n']) {
        expect(errorOf(text)).toEqual({ line: 1, column: 1, message: 'pipeline file is empty' });
      }
    });

    it('reports a wrongly typed run with the exact position of the value', () => {
      const text = 'steps:\n  - name: a\n    run: echo\n  - name: b\n    run: 42\n';
      expect(errorOf(text)).toEqual({ line: 5, column: 10, message: 'steps[1].run: expected a string, got a number' });
    });

    it('points at the key when the value is empty', () => {
      const e = errorOf('steps:\n  - name: a\n    run:\n');
      expect(e).toEqual({ line: 3, column: 5, message: 'steps[0].run: expected a string, got null' });
    });

    it('reports a missing required key at the step that lacks it', () => {
      const e = errorOf('steps:\n  - name: a\n    run: x\n  - name: b\n');
      expect(e).toEqual({ line: 4, column: 5, message: "steps[1]: missing required key 'run'" });
    });

    it('reports missing and empty steps', () => {
      expect(errorOf('timeout: 5m\n')).toEqual({ line: 1, column: 1, message: "missing required key 'steps'" });
      expect(errorOf('steps: []\n')).toEqual({ line: 1, column: 8, message: 'steps: must contain at least one step' });
      expect(errorOf('steps: x\n')).toEqual({ line: 1, column: 8, message: 'steps: expected a list, got a string' });
      expect(errorOf('steps:\n  - echo hi\n')).toEqual({
        line: 2,
        column: 5,
        message: 'steps[0]: expected a mapping, got a string',
      });
    });

    it('rejects a document that is not a mapping', () => {
      expect(errorOf('- a\n').message).toBe("expected a mapping with a 'steps' list, got a list");
      expect(errorOf('hello\n').message).toBe("expected a mapping with a 'steps' list, got a string");
    });

    it('names unknown top-level keys and points at them', () => {
      const e = errorOf('steps:\n  - name: a\n    run: x\n\nstages: []\n');
      expect(e).toEqual({
        line: 5,
        column: 1,
        message: "unknown top-level key 'stages' (allowed: steps, timeout, deploy, cache)",
      });
    });

    it('names unknown step keys', () => {
      const e = errorOf('steps:\n  - name: a\n    run: x\n    script: y\n');
      expect(e).toEqual({
        line: 4,
        column: 5,
        message: "steps[0]: unknown step key 'script' (allowed: name, run, timeout, env, cache)",
      });
    });

    it('rejects duplicate step names at the second occurrence', () => {
      const e = errorOf('steps:\n  - name: build\n    run: x\n  - name: build\n    run: y\n');
      expect(e).toEqual({
        line: 4,
        column: 11,
        message: "steps[1].name: duplicate step name 'build' (already used by steps[0])",
      });
    });

    it('rejects empty names and scripts', () => {
      expect(errorOf('steps:\n  - name: ""\n    run: x\n')).toEqual({
        line: 2,
        column: 11,
        message: 'steps[0].name: must not be empty',
      });
      expect(errorOf('steps:\n  - name: a\n    run: "  "\n').message).toBe('steps[0].run: must not be empty');
    });

    it('rejects invalid durations with a hint', () => {
      const e = errorOf('steps:\n  - name: a\n    run: x\n    timeout: 5 minutes\n');
      expect(e.line).toBe(4);
      expect(e.column).toBe(14);
      expect(e.message).toMatch(/^steps\[0\]\.timeout: invalid duration "5 minutes": expected .*"1h30m"/);
      expect(errorOf('timeout: 0\nsteps:\n  - name: a\n    run: x\n')).toEqual({
        line: 1,
        column: 10,
        message: 'timeout: duration must be greater than zero',
      });
    });

    it('validates env names and values', () => {
      expect(errorOf('steps:\n  - name: a\n    run: x\n    env:\n      OK: 1\n      BAD-NAME: 1\n')).toEqual({
        line: 6,
        column: 7,
        message: expect.stringContaining("invalid environment variable name 'BAD-NAME'"),
      });
      expect(errorOf('steps:\n  - name: a\n    run: x\n    env:\n      LIST: [1, 2]\n')).toEqual({
        line: 5,
        column: 13,
        message: 'steps[0].env.LIST: expected a string, number or boolean, got a list',
      });
      expect(errorOf('steps:\n  - name: a\n    run: x\n    env: 3\n').message).toBe(
        'steps[0].env: expected a mapping, got a number',
      );
    });

    it('reports the first problem in file order when there are several', () => {
      const e = errorOf('steps:\n  - name: a\n    run: 1\nbogus: true\n  \n');
      expect(e.line).toBe(3);
    });

    it('reports YAML syntax errors with their position', () => {
      const e = errorOf('steps:\n  - name: a\n    run: "unterminated\n');
      expect(e.line).toBeGreaterThanOrEqual(3);
      expect(e.message).not.toContain('\n');
      expect(e.message.length).toBeGreaterThan(0);

      const tab = errorOf('steps:\n  - name: a\n\t run: x\n');
      expect(tab.line).toBe(3);

      expect(errorOf('steps:\n  - name: a\n    run: x\nsteps: []\n')).toEqual({
        line: 4,
        column: 1,
        message: 'Map keys must be unique',
      });
    });
  });
});

describe('parsePipelineFile', () => {
  const files = [
    'steps:\n  - name: one\n    run: echo hi\n',
    'steps:\n  - name: one\n    run: echo hi\ndeploy:\n  environment: production\n  start: node app.js\n',
    // steps broken, deploy fine: each part reports on its own
    'steps:\n  - name: one\n    run: 3\ndeploy:\n  environment: staging\n  start: node app.js\n',
    // deploy broken, steps fine
    'steps:\n  - name: one\n    run: echo hi\ndeploy:\n  instances: many\n',
    'steps: [\n',
    '',
  ];
  it.each(files.map((f) => [JSON.stringify(f).slice(0, 60), f]))('answers as parsePipeline and parseDeploy do for %s', (_name, text) => {
    expect(parsePipelineFile(text)).toEqual({ pipeline: parsePipeline(text), deploy: parseDeploy(text) });
  });

  it('keeps both answers apart', () => {
    const r = parsePipelineFile(files[2]);
    expect(r.pipeline.ok).toBe(false);
    expect(r.deploy).toMatchObject({ ok: true, deploy: { environment: 'staging' } });
  });
});

describe('formatPipelineError', () => {
  it('prefixes the file name and position', () => {
    expect(formatPipelineError({ line: 4, column: 5, message: 'steps[1].run: expected a string' })).toBe(
      '.kiln.yml line 4, column 5: steps[1].run: expected a string',
    );
  });
});

describe('step cache', () => {
  it('parses key, paths and restoreKeys', () => {
    const r = parsePipeline("steps:\n  - name: deps\n    run: npm ci\n    cache:\n      key: npm-${{ hashFiles('package-lock.json') }}\n      paths: [node_modules]\n      restoreKeys: [npm-]\n");
    expect(r.ok && r.pipeline.steps[0].cache).toEqual({ key: "npm-${{ hashFiles('package-lock.json') }}", paths: ['node_modules'], restoreKeys: ['npm-'] });
  });
  it('names the line of a cache without paths', () => {
    const r = parsePipeline('steps:\n  - name: deps\n    run: npm ci\n    cache:\n      key: k\n');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error.line).toBe(5);
    expect(!r.ok && r.error.message).toMatch(/paths/);
  });
});
