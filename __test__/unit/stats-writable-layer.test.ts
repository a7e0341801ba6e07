import test from 'ava';
import { link, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WritableLayerUsage } from '../../src/stats/writable-layer-usage.js';

test('a writable layer is walked once per TTL, and concurrent callers share the walk', async (t) => {
  let walks = 0;
  let now = 0;
  const usage = new WritableLayerUsage({
    ttlMs: 1000,
    maxConcurrentWalks: 1,
    now: () => new Date(now),
    measure: async () => {
      walks += 1;
      return { bytes: walks * 4096, inodes: walks };
    },
  });
  const [first, second] = await Promise.all([usage.of('c1', '/upper'), usage.of('c1', '/upper')]);
  t.is(walks, 1);
  t.deepEqual(first, second);
  now = 999;
  t.is((await usage.of('c1', '/upper'))?.bytes, 4096, 'still fresh');
  now = 1000;
  t.is((await usage.of('c1', '/upper'))?.bytes, 8192, 'walked again after the TTL');
  t.is(walks, 2);
  usage.retain(() => false);
  await usage.of('c1', '/upper');
  t.is(walks, 3, 'a forgotten layer is walked again');
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
