import test from 'ava';
import { link, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { WritableLayerUsage } from '../../src/stats/writable-layer-usage.js';

function counting(options: { fail?: () => Error | null } = {}) {
  let now = 0;
  const state = { walks: 0 };
  const usage = new WritableLayerUsage({
    ttlMs: 1000,
    maxConcurrentWalks: 1,
    now: () => new Date(now),
    measure: async () => {
      const failure = options.fail?.() ?? null;
      if (failure) throw failure;
      state.walks += 1;
      return { bytes: state.walks * 4096, inodes: state.walks };
    },
  });
  return { usage, state, setNow: (ms: number) => (now = ms) };
}

test('the first call waits for the walk, and concurrent callers share it', async (t) => {
  const { usage, state } = counting();
  const [first, second] = await Promise.all([usage.of('c1', '/upper'), usage.of('c1', '/upper')]);
  t.is(state.walks, 1);
  t.deepEqual(first, second);
  t.is(first?.bytes, 4096);
});

test('a fresh result is served as is; a stale one is served at once while a new walk runs', async (t) => {
  const { usage, state, setNow } = counting();
  await usage.of('c1', '/upper');
  setNow(999);
  t.is((await usage.of('c1', '/upper'))?.bytes, 4096);
  t.is(state.walks, 1, 'still fresh: no walk');
  setNow(1000);
  t.is((await usage.of('c1', '/upper'))?.bytes, 4096, 'stale, served without waiting');
  await tick();
  await tick();
  t.is(state.walks, 2, 'refreshed in the background');
  const refreshed = await usage.of('c1', '/upper');
  t.is(refreshed?.bytes, 8192);
  t.is(refreshed?.measuredAt.getTime(), 1000, 'the timestamp says when it was measured');
});

test('a failed background refresh makes the next call walk in the foreground and fail', async (t) => {
  let failure: Error | null = null;
  const { usage, setNow } = counting({ fail: () => failure });
  await usage.of('c1', '/upper');
  failure = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
  setNow(5000);
  t.is((await usage.of('c1', '/upper'))?.bytes, 4096);
  await tick();
  await tick();
  await t.throwsAsync(usage.of('c1', '/upper'), { message: /EACCES/ });
});

test('retain forgets removed containers', async (t) => {
  const { usage, state } = counting();
  await usage.of('c1', '/upper');
  usage.retain(() => false);
  await usage.of('c1', '/upper');
  t.is(state.walks, 2, 'a forgotten layer is walked again');
});

test('the real walk counts blocks and inodes, hard links once, and a missing layer is null', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-stats-layer-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(path.join(dir, 'etc'));
  await writeFile(path.join(dir, 'etc', 'data'), Buffer.alloc(64 * 1024, 1));
  await link(path.join(dir, 'etc', 'data'), path.join(dir, 'hardlink'));
  const usage = new WritableLayerUsage({ ttlMs: 0, maxConcurrentWalks: 2 });
  const measured = await usage.of('c1', dir);
  t.is(measured?.inodes, 3, 'the directory, etc and the file once');
  t.true((measured?.bytes ?? 0) >= 64 * 1024);
  t.true(measured?.measuredAt instanceof Date);
  t.is(await usage.of('c2', path.join(dir, 'missing')), null);
});
