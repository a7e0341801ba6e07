import test, { type ExecutionContext } from 'ava';
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  mountOverlay,
  NativeError,
  probeHost,
  unmountOverlay,
  type OverlayMountAddon,
  type OverlayMountRequest,
} from '../../src/native/index.js';
import { root, testNeeding } from '../helpers/host-requirements.js';
import { kernelFeatures } from '../helpers/kernel-features.js';
import { run } from '../helpers/process.js';

const rootTest = testNeeding(root);

async function sh(command: string, args: string[]): Promise<void> {
  const result = await run(command, args);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
}

/** A scratch directory whose target is unmounted, whatever happens, before it is removed. */
async function scratch(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-overlay-'));
  await mkdir(path.join(dir, 'merged'));
  t.teardown(async () => {
    await run('umount', ['--lazy', path.join(dir, 'merged')]);
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

async function put(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
}

/**
 * Three layers, topmost first: the middle one hides `gone.txt` with a 0:0
 * character device and `opaque/` with trusted.overlay.opaque=y, as the
 * unpackers write them.
 */
async function threeLayers(dir: string): Promise<OverlayMountRequest> {
  await put(path.join(dir, 'bottom/base.txt'), 'bottom');
  await put(path.join(dir, 'bottom/gone.txt'), 'bottom');
  await put(path.join(dir, 'bottom/shadowed.txt'), 'bottom');
  await put(path.join(dir, 'bottom/opaque/old.txt'), 'bottom');
  await put(path.join(dir, 'middle/shadowed.txt'), 'middle');
  await sh('mknod', [path.join(dir, 'middle/gone.txt'), 'c', '0', '0']);
  await put(path.join(dir, 'middle/opaque/new.txt'), 'middle');
  await sh('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', path.join(dir, 'middle/opaque')]);
  await put(path.join(dir, 'top/top.txt'), 'top');
  await mkdir(path.join(dir, 'upper'));
  await mkdir(path.join(dir, 'work'));
  return {
    target: path.join(dir, 'merged'),
    lowerDirs: ['top', 'middle', 'bottom'].map((layer) => path.join(dir, layer)),
    upperDir: path.join(dir, 'upper'),
    workDir: path.join(dir, 'work'),
    cwd: null,
    readonly: false,
  };
}

async function deepImage(dir: string, layers: number): Promise<OverlayMountRequest> {
  const lowerDirs: string[] = [];
  for (let index = 0; index < layers; index++) {
    const layer = path.join(dir, 'layers', String(index).padStart(3, '0'));
    await put(path.join(layer, `layer-${index}`), '');
    await put(path.join(layer, 'which'), String(index));
    lowerDirs.push(layer);
  }
  await mkdir(path.join(dir, 'upper'));
  await mkdir(path.join(dir, 'work'));
  return {
    target: path.join(dir, 'merged'),
    lowerDirs,
    upperDir: path.join(dir, 'upper'),
    workDir: path.join(dir, 'work'),
    cwd: null,
    readonly: false,
  };
}

rootTest('three layers merge with whiteouts and an opaque directory, and writes land in the upper dir', async (t) => {
  const dir = await scratch(t);
  const request = await threeLayers(dir);
  const { mountApi } = await probeHost();
  t.is(await mountOverlay(request), mountApi.lowerdirAppend.available ? 'new-mount-api' : 'mount-options');

  const merged = request.target;
  t.deepEqual((await readdir(merged)).sort(), ['base.txt', 'opaque', 'shadowed.txt', 'top.txt']);
  t.is(await readFile(path.join(merged, 'shadowed.txt'), 'utf8'), 'middle');
  t.deepEqual(await readdir(path.join(merged, 'opaque')), ['new.txt']);
  await writeFile(path.join(merged, 'written.txt'), 'new');
  t.is(await readFile(path.join(dir, 'upper/written.txt'), 'utf8'), 'new');
  for (const layer of ['top', 'middle', 'bottom']) {
    await t.throwsAsync(stat(path.join(dir, layer, 'written.txt')), { code: 'ENOENT' });
  }

  t.is(await unmountOverlay(merged), 'unmounted');
  t.deepEqual(await readdir(merged), []);
  t.is(await unmountOverlay(merged), 'not-mounted');
  t.is(await unmountOverlay(path.join(dir, 'no-such-dir')), 'not-mounted');
});

// The kernel's own answer (host-probe.test.ts checks that the probe gives the same one).
testNeeding(root, kernelFeatures().lowerdirAppend)('200 layers mount through lowerdir+ with the first layer on top', async (t) => {
  const dir = await scratch(t);
  const request = await deepImage(dir, 200);
  t.is(await mountOverlay(request), 'new-mount-api');
  t.is((await readdir(request.target)).length, 201);
  t.is(await readFile(path.join(request.target, 'which'), 'utf8'), '0');
  t.is(await unmountOverlay(request.target), 'unmounted');
});

rootTest('relative lower dirs are taken from cwd, and a read-only view refuses writes', async (t) => {
  const dir = await scratch(t);
  await put(path.join(dir, 'l/A/a.txt'), 'a');
  await put(path.join(dir, 'l/B/b.txt'), 'b');
  const request: OverlayMountRequest = {
    target: path.join(dir, 'merged'),
    lowerDirs: ['l/A', 'l/B'],
    upperDir: null,
    workDir: null,
    cwd: dir,
    readonly: true,
  };
  await mountOverlay(request);
  t.deepEqual((await readdir(request.target)).sort(), ['a.txt', 'b.txt']);
  await t.throwsAsync(writeFile(path.join(request.target, 'c.txt'), ''), { code: 'EROFS' });
  t.is(await unmountOverlay(request.target), 'unmounted');
});

rootTest('a single read-only layer becomes a read-only bind mount', async (t) => {
  const dir = await scratch(t);
  await put(path.join(dir, 'layer/file'), 'content');
  const target = path.join(dir, 'merged');
  const method = await mountOverlay({
    target,
    lowerDirs: [path.join(dir, 'layer')],
    upperDir: null,
    workDir: null,
    cwd: null,
    readonly: true,
  });
  t.is(method, 'read-only-bind');
  t.is(await readFile(path.join(target, 'file'), 'utf8'), 'content');
  await t.throwsAsync(writeFile(path.join(target, 'file'), 'x'), { code: 'EROFS' });
  t.is(await unmountOverlay(target), 'unmounted');
});

rootTest('a mount still in use is detached, and is gone from the tree at once', async (t) => {
  const dir = await scratch(t);
  const request = await threeLayers(dir);
  await mountOverlay(request);
  const handle = await open(path.join(request.target, 'base.txt'));
  try {
    t.is(await unmountOverlay(request.target), 'detached');
    t.deepEqual(await readdir(request.target), []);
    t.is((await handle.readFile('utf8')), 'bottom', 'the open file still reads');
  } finally {
    await handle.close();
  }
});

rootTest('a missing layer rejects with ERR_OVERLAY_MOUNT naming it; a bad request with ERR_OVERLAY_INVALID', async (t) => {
  const dir = await scratch(t);
  const request = await threeLayers(dir);
  const missing = path.join(dir, 'no-such-layer');
  const mountError = await t.throwsAsync(mountOverlay({ ...request, lowerDirs: [missing, ...request.lowerDirs] }), {
    instanceOf: NativeError,
  });
  t.is(mountError?.code, 'ERR_OVERLAY_MOUNT');
  t.true(mountError?.message.includes(missing), mountError?.message);

  for (const bad of [
    { ...request, lowerDirs: [] },
    { ...request, workDir: null },
    { ...request, lowerDirs: ['relative'] },
    { ...request, upperDir: null, workDir: null, readonly: false },
    { ...request, lowerDirs: Array.from({ length: 501 }, () => dir) },
  ]) {
    const error = await t.throwsAsync(mountOverlay(bad), { instanceOf: NativeError });
    t.is(error?.code, 'ERR_OVERLAY_INVALID');
  }
});

rootTest('mount plus unmount time for 1 and 128 layers', async (t) => {
  const rounds = 50;
  for (const layers of [1, 128]) {
    const dir = await scratch(t);
    const request = await deepImage(dir, layers);
    const times: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const start = performance.now();
      await mountOverlay(request);
      await unmountOverlay(request.target);
      times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(rounds / 2)] ?? 0;
    t.log(`${layers} layer(s): median ${median.toFixed(3)} ms, best ${(times[0] ?? 0).toFixed(3)} ms over ${rounds} rounds`);
    // Loose: a regression to seconds fails; scheduling noise does not.
    t.true(median < 250, `${median} ms`);
  }
});

test('errors from an injected addon are rebuilt as NativeError with their code', async (t) => {
  const fake: OverlayMountAddon = {
    mountOverlay: () => Promise.reject(Object.assign(new Error('too long'), { code: 'ERR_OVERLAY_OPTIONS_TOO_LONG' })),
    unmountOverlay: () => Promise.resolve('not-mounted'),
  };
  const request: OverlayMountRequest = {
    target: '/m',
    lowerDirs: ['/a', '/b'],
    upperDir: null,
    workDir: null,
    cwd: null,
    readonly: true,
  };
  const error = await t.throwsAsync(mountOverlay(request, fake), { instanceOf: NativeError });
  t.is(error?.code, 'ERR_OVERLAY_OPTIONS_TOO_LONG');
  t.is(await unmountOverlay('/m', fake), 'not-mounted');
});
