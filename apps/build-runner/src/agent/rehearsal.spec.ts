import { parseDeploy, parsePipeline } from '@kiln/pipeline';
import { rehearse, REHEARSAL_PIPELINE } from './rehearsal';

describe('rehearsal before a worker goes warm', () => {
  it('parses a pipeline through its real paths (steps, cache, deploy), not an error path', () => {
    const p = parsePipeline(REHEARSAL_PIPELINE);
    expect(p.ok && p.pipeline.steps.map((s) => s.name)).toEqual(['install', 'test']);
    expect(p.ok && p.pipeline.steps[0].cache?.paths).toEqual(['node_modules']);
    const d = parseDeploy(REHEARSAL_PIPELINE);
    expect(d.ok && d.deploy?.environment).toBe('production');
    expect(rehearse()).toBe('pipeline parser rehearsed');
  });
});
