import { backendOf, EdgeRouter } from './edge-router';

describe('EdgeRouter', () => {
  const picks = (router: EdgeRouter, env: string, n: number) => Array.from({ length: n }, () => router.pick(env)?.instanceId);

  it('knows no environment until one is swapped in', () => {
    const router = new EdgeRouter();
    expect(router.pick('prod')).toBeUndefined();
    router.swap('prod', []);
    expect(router.pick('prod')).toBeNull();
  });

  it('sends requests round-robin to the warm instances only', () => {
    const router = new EdgeRouter();
    router.swap('prod', [backendOf('a', 'd1', 1), backendOf('b', 'd1', 2, false), backendOf('c', 'd1', 3)]);
    expect(picks(router, 'prod', 6)).toEqual(['a', 'c', 'a', 'c', 'a', 'c']);
  });

  it('sends requests to all instances when none is warm (the AppInit rule)', () => {
    const router = new EdgeRouter();
    router.swap('prod', [backendOf('a', 'd1', 1, false), backendOf('b', 'd1', 2, false)]);
    expect(picks(router, 'prod', 4)).toEqual(['a', 'b', 'a', 'b']);
    router.backends('prod')[1].warm = true;
    expect(picks(router, 'prod', 3)).toEqual(['b', 'b', 'b']);
  });

  it('switches atomically: the old list before the swap, only the new one after', () => {
    const router = new EdgeRouter();
    router.swap('prod', [backendOf('old-1', 'd1', 1), backendOf('old-2', 'd1', 2)]);
    const seen: string[][] = [];
    router.onSwap((_env, list) => seen.push(list.map((b) => b.instanceId)));
    const previous = router.swap('prod', [backendOf('new-1', 'd2', 3), backendOf('new-2', 'd2', 4)]);
    expect(previous.map((b) => b.instanceId)).toEqual(['old-1', 'old-2']);
    expect(new Set(picks(router, 'prod', 10))).toEqual(new Set(['new-1', 'new-2']));
    expect(seen).toEqual([['new-1', 'new-2']]);
    expect(Object.isFrozen(router.backends('prod'))).toBe(true);
  });

  it('takes a crashed instance out of rotation', () => {
    const router = new EdgeRouter();
    router.swap('prod', [backendOf('a', 'd1', 1), backendOf('b', 'd1', 2)]);
    expect(router.remove('prod', 'a')).toBe(true);
    expect(router.remove('prod', 'a')).toBe(false);
    expect(picks(router, 'prod', 3)).toEqual(['b', 'b', 'b']);
    router.remove('prod', 'b');
    expect(router.pick('prod')).toBeNull();
  });

  it('puts an instance started again back in rotation beside the others', () => {
    const router = new EdgeRouter();
    router.swap('prod', [backendOf('b', 'd1', 2)]);
    router.add('prod', backendOf('a', 'd1', 3));
    expect(router.backends('prod').map((x) => `${x.instanceId}:${x.port}`)).toEqual(['b:2', 'a:3']);
    router.add('prod', backendOf('a', 'd1', 4));
    expect(router.backends('prod').map((x) => `${x.instanceId}:${x.port}`)).toEqual(['b:2', 'a:4']);
  });

  it('keeps environments apart', () => {
    const router = new EdgeRouter();
    router.swap('prod', [backendOf('p', 'd1', 1)]);
    router.swap('staging', [backendOf('s', 'd2', 2)]);
    expect(picks(router, 'prod', 2)).toEqual(['p', 'p']);
    expect(picks(router, 'staging', 2)).toEqual(['s', 's']);
    expect(router.environments().sort()).toEqual(['prod', 'staging']);
  });
});
