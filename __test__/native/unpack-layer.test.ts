import test from 'ava';
import { createHash } from 'node:crypto';
import { chmod, link, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { LayerUnpackError } from '../../src/image/unpack/layer-unpack-error.js';
import {
  NativeError,
  nativeLayerUnpacker,
  unpackLayerNative,
  type LayerCompression,
  type LayerUnpackRequest,
  type UnpackLayerAddon,
} from '../../src/native/index.js';
import { run } from '../helpers/process.js';
import { tarArchive, type TarEntry } from '../helpers/tar-writer.js';

const NO_LIMIT = Number.MAX_SAFE_INTEGER;

class FakeCancelToken {
  cancel(): void {}
}

async function scratch(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-unpack-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function sh(command: string, args: string[], cwd?: string): Promise<string> {
  const result = await run(command, args, cwd === undefined ? {} : { cwd });
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** The digest as `sha256sum` prints it, independent of the addon's hashing. */
async function sha256sum(file: string): Promise<string> {
  return `sha256:${(await sh('sha256sum', [file])).split(' ')[0]}`;
}

/**
 * A root filesystem with every kind of entry the CLIs can archive: nested
 * directories, modes with setuid and sticky bits, a symlink pointing out of
 * the tree, a hard link, a long name and an empty file.
 */
async function makeTree(root: string): Promise<void> {
  await mkdir(path.join(root, 'usr/bin'), { recursive: true });
  await mkdir(path.join(root, 'tmp'));
  await chmod(path.join(root, 'tmp'), 0o1777);
  await writeFile(path.join(root, 'usr/bin/tool'), '#!/bin/sh\necho tool\n');
  await chmod(path.join(root, 'usr/bin/tool'), 0o4755);
  await link(path.join(root, 'usr/bin/tool'), path.join(root, 'usr/bin/tool-alias'));
  await symlink('/etc/os-release', path.join(root, 'usr/os-release'));
  const longDir = path.join(root, 'deep', 'd'.repeat(90));
  await mkdir(longDir, { recursive: true });
  await writeFile(path.join(longDir, `${'f'.repeat(120)}.txt`), Buffer.alloc(300_000, 'x'));
  await writeFile(path.join(root, 'empty'), '');
  await utimes(path.join(root, 'usr/bin/tool'), 1_600_000_000, 1_600_000_000);
}

/** The tree as comparable data: type, mode, size, link target and content digest per path. */
async function describe(root: string, dir = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(path.join(root, dir))).sort()) {
    const relative = path.join(dir, name);
    const full = path.join(root, relative);
    const stats = await lstat(full);
    const mode = (stats.mode & 0o7777).toString(8);
    if (stats.isSymbolicLink()) out[relative] = `symlink ${await readlink(full)}`;
    else if (stats.isDirectory()) {
      out[relative] = `dir ${mode}`;
      Object.assign(out, await describe(root, relative));
    } else {
      const digest = createHash('sha256').update(await readFile(full)).digest('hex').slice(0, 16);
      out[relative] = `file ${mode} ${stats.size} ${digest} mtime=${stats.mtimeMs} links=${stats.nlink}`;
    }
  }
  return out;
}

async function compress(tarFile: string, compression: LayerCompression): Promise<string> {
  switch (compression) {
    case 'gzip':
      await sh('gzip', ['-k', '-f', tarFile]);
      return `${tarFile}.gz`;
    case 'zstd':
      await sh('zstd', ['-q', '-f', tarFile, '-o', `${tarFile}.zst`]);
      return `${tarFile}.zst`;
    case 'none':
      return tarFile;
  }
}

for (const compression of ['gzip', 'zstd', 'none'] as const) {
  test(`a ${compression} layer made by GNU tar unpacks to the same tree with the digests sha256sum computes`, async (t) => {
    const dir = await scratch(t);
    const source = path.join(dir, 'source');
    await mkdir(source);
    await makeTree(source);
    const tarFile = path.join(dir, 'layer.tar');
    await sh('tar', ['--format=pax', '-C', source, '-cf', tarFile, '.']);
    const blobPath = await compress(tarFile, compression);
    const destination = path.join(dir, 'dest');
    await mkdir(destination);

    const result = await unpackLayerNative({ blobPath, destination, compression, maxUncompressedBytes: NO_LIMIT });

    t.is(result.diffId, await sha256sum(tarFile));
    t.is(result.compressedDigest, await sha256sum(blobPath));
    t.is(result.uncompressedSize, (await lstat(tarFile)).size);
    t.is(result.compressedSize, (await lstat(blobPath)).size);
    const sourceTree = await describe(source);
    t.deepEqual(await describe(destination), sourceTree);
    // "./", the directories, files, the hard link and the symlink.
    t.is(result.entries, Object.keys(sourceTree).length + 1);
  });
}

async function unpackEntries(
  t: { teardown(fn: () => Promise<void>): void },
  entries: TarEntry[],
  request: Partial<LayerUnpackRequest> = {},
): Promise<{ dir: string; destination: string; result: Promise<unknown> }> {
  const dir = await scratch(t);
  const blobPath = path.join(dir, 'layer.tar');
  await writeFile(blobPath, tarArchive(entries));
  const destination = path.join(dir, 'dest');
  await mkdir(destination);
  await mkdir(path.join(dir, 'outside'));
  const result = unpackLayerNative({ blobPath, destination, compression: 'none', maxUncompressedBytes: NO_LIMIT, ...request });
  // Settled by the caller's assertion; keeps an early rejection from going unhandled.
  result.catch(() => undefined);
  return { dir, destination, result };
}

test('a layer that writes through its own symlink is refused as a path escape and leaves the outside alone', async (t) => {
  const dir = await scratch(t);
  const outside = path.join(dir, 'outside');
  await mkdir(outside);
  const blobPath = path.join(dir, 'layer.tar');
  await writeFile(
    blobPath,
    tarArchive([
      { type: 'symlink', path: 'etc', target: outside },
      { type: 'file', path: 'etc/passwd', content: 'root::0:0::/:/bin/sh\n' },
    ]),
  );
  const destination = path.join(dir, 'dest');
  await mkdir(destination);

  const error = await t.throwsAsync(
    unpackLayerNative({ blobPath, destination, compression: 'none', maxUncompressedBytes: NO_LIMIT }),
    { instanceOf: LayerUnpackError },
  );
  t.is(error?.rejection, 'path-escape');
  t.regex(error?.message ?? '', /etc\/passwd.*escapes the destination: "etc" is a symlink/);
  t.is((error?.cause as { code?: string } | undefined)?.code, 'ERR_UNPACK_PATH_ESCAPE');
  t.deepEqual(await readdir(outside), []);
});

test('a name with .. is refused as a path escape', async (t) => {
  const { dir, result } = await unpackEntries(t, [{ type: 'file', path: '../outside/evil', content: 'x' }]);
  const error = await t.throwsAsync(result, { instanceOf: LayerUnpackError });
  t.is(error?.rejection, 'path-escape');
  t.deepEqual(await readdir(path.join(dir, 'outside')), []);
});

test('whiteouts become 0:0 character devices', async (t) => {
  const { destination, result } = await unpackEntries(t, [
    { type: 'dir', path: 'etc' },
    { type: 'file', path: 'etc/.wh.motd' },
  ]);
  await result;
  const stats = await lstat(path.join(destination, 'etc/motd'));
  t.true(stats.isCharacterDevice());
  t.is(stats.rdev, 0);
  t.deepEqual(await readdir(path.join(destination, 'etc')), ['motd']);
});

test('more uncompressed bytes than allowed is too-large; a bad checksum is corrupt; a sparse entry is unsupported', async (t) => {
  const big = await unpackEntries(t, [{ type: 'file', path: 'big', content: Buffer.alloc(64 * 1024) }], {
    maxUncompressedBytes: 4096,
  });
  t.is((await t.throwsAsync(big.result, { instanceOf: LayerUnpackError }))?.rejection, 'too-large');

  const dir = await scratch(t);
  const blobPath = path.join(dir, 'layer.tar');
  const archive = tarArchive([{ type: 'file', path: 'f', content: 'x' }]);
  archive[0] = 'g'.charCodeAt(0);
  await writeFile(blobPath, archive);
  await mkdir(path.join(dir, 'dest'));
  const corrupt = unpackLayerNative({ blobPath, destination: path.join(dir, 'dest'), compression: 'none', maxUncompressedBytes: NO_LIMIT });
  t.is((await t.throwsAsync(corrupt, { instanceOf: LayerUnpackError }))?.rejection, 'corrupt');

  const sparse = await unpackEntries(t, [{ type: 'raw', path: 'sparse', typeflag: 'S' }]);
  t.is((await t.throwsAsync(sparse.result, { instanceOf: LayerUnpackError }))?.rejection, 'unsupported-entry');
});

test('a gzip layer that is not gzip is corrupt', async (t) => {
  const { result } = await unpackEntries(t, [{ type: 'file', path: 'f', content: 'x' }], { compression: 'gzip' });
  const error = await t.throwsAsync(result, { instanceOf: LayerUnpackError });
  t.is(error?.rejection, 'corrupt');
  t.true(error?.message.startsWith('corrupt layer: gzip stream: '), error?.message);
});

test('a missing blob is a NativeError naming the path', async (t) => {
  const dir = await scratch(t);
  const blobPath = path.join(dir, 'missing.tar.gz');
  const error = await t.throwsAsync(
    unpackLayerNative({ blobPath, destination: dir, compression: 'gzip', maxUncompressedBytes: NO_LIMIT }),
    { instanceOf: NativeError },
  );
  t.is(error?.code, 'ERR_UNPACK_IO');
  t.is(error?.message, `opening ${blobPath}: No such file or directory (os error 2)`);
});

test('unpacks run concurrently on their own threads while the event loop stays free', async (t) => {
  const dir = await scratch(t);
  const blobPath = path.join(dir, 'layer.tar.gz');
  const entries: TarEntry[] = [];
  for (let index = 0; index < 200; index += 1) {
    entries.push({ type: 'file', path: `d${index % 10}/f${index}`, content: Buffer.alloc(20_000, index) });
  }
  await writeFile(path.join(dir, 'layer.tar'), tarArchive(entries));
  await sh('gzip', [path.join(dir, 'layer.tar')]);
  let ticks = 0;
  const timer = setInterval(() => (ticks += 1), 1);
  const results = await Promise.all(
    Array.from({ length: 6 }, async (_, index) => {
      const destination = path.join(dir, `dest${index}`);
      await mkdir(destination);
      // A signal that never fires: the cancel token is made and then unused.
      const { signal } = new AbortController();
      return unpackLayerNative({ blobPath, destination, compression: 'gzip', maxUncompressedBytes: NO_LIMIT }, undefined, signal);
    }),
  );
  clearInterval(timer);
  t.true(ticks > 0);
  t.deepEqual(new Set(results.map((result) => result.diffId)).size, 1);
  t.true(results.every((result) => result.entries === 200));
});

test('codes from an injected addon become LayerUnpackError or NativeError', async (t) => {
  const request: LayerUnpackRequest = { blobPath: '/b', destination: '/d', compression: 'gzip', maxUncompressedBytes: 1 };
  const failing = (code: string): UnpackLayerAddon => ({
    CancelToken: FakeCancelToken,
    unpackLayer: () => Promise.reject(Object.assign(new Error(`failed with ${code}`), { code })),
  });
  const rejections = [
    ['ERR_UNPACK_PATH_ESCAPE', 'path-escape'],
    ['ERR_UNPACK_TOO_LARGE', 'too-large'],
    ['ERR_UNPACK_CORRUPT', 'corrupt'],
    ['ERR_UNPACK_UNSUPPORTED_ENTRY', 'unsupported-entry'],
  ] as const;
  for (const [code, rejection] of rejections) {
    const error = await t.throwsAsync(unpackLayerNative(request, failing(code)), { instanceOf: LayerUnpackError });
    t.is(error?.rejection, rejection);
    t.is(error?.message, `failed with ${code}`);
  }
  const io = await t.throwsAsync(unpackLayerNative(request, failing('ERR_UNPACK_IO')), { instanceOf: NativeError });
  t.is(io?.code, 'ERR_UNPACK_IO');

  const result = { compressedDigest: 'sha256:a', diffId: 'sha256:b', compressedSize: 1, uncompressedSize: 2, entries: 3 };
  t.is(await unpackLayerNative(request, { CancelToken: FakeCancelToken, unpackLayer: () => Promise.resolve(result) }), result);
});

test('a size limit that is not a safe non-negative integer is refused before the addon runs', async (t) => {
  const addon: UnpackLayerAddon = {
    CancelToken: FakeCancelToken,
    unpackLayer: () => Promise.reject(new Error('must not be called')),
  };
  for (const maxUncompressedBytes of [-1, 1.5, Number.NaN, 2 ** 60]) {
    await t.throwsAsync(
      unpackLayerNative({ blobPath: '/b', destination: '/d', compression: 'none', maxUncompressedBytes }, addon),
      { instanceOf: RangeError },
    );
  }
});

test('a limit past 2^32 crosses the boundary exactly', async (t) => {
  // Cut to 32 bits, 2^32 + 1 would be a 1-byte limit and refuse the layer.
  const { result } = await unpackEntries(t, [{ type: 'file', path: 'f', content: 'x' }], {
    maxUncompressedBytes: 2 ** 32 + 1,
  });
  t.like(await result, { entries: 1 });
});

test('an abort stops a running unpack and rejects with the signal\'s reason', async (t) => {
  const dir = await scratch(t);
  // One entry claiming 4 GiB of zeros, which take seconds to inflate and
  // write: 4096 gzip members of 1 MiB each after the header.
  const header = tarArchive([{ type: 'file', path: 'zeros' }]).subarray(0, 512);
  header.write((4 * 2 ** 30).toString(8).padStart(11, '0'), 124, 11, 'latin1');
  header.fill(' ', 148, 156);
  header.write(`${header.reduce((sum, byte) => sum + byte, 0).toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  const zeros = gzipSync(Buffer.alloc(2 ** 20));
  const blobPath = path.join(dir, 'layer.tar.gz');
  await writeFile(blobPath, Buffer.concat([gzipSync(header), ...Array.from({ length: 4096 }, () => zeros)]));
  const destination = path.join(dir, 'dest');
  await mkdir(destination);

  const controller = new AbortController();
  const started = performance.now();
  const unpacking = nativeLayerUnpacker()(
    { blobPath, destination, compression: 'gzip', maxUncompressedBytes: NO_LIMIT },
    controller.signal,
  );
  setTimeout(() => controller.abort(), 50);
  // A DOMException, which ava's throwsAsync does not take for an error.
  const reason: unknown = await unpacking.then(
    () => t.fail('the unpack finished'),
    (error: unknown) => error,
  );
  t.is(reason, controller.signal.reason);
  t.is((reason as DOMException).name, 'AbortError');
  t.true(performance.now() - started < 3000, `took ${performance.now() - started} ms`);
});

test('an already aborted signal rejects before the addon runs', async (t) => {
  const addon: UnpackLayerAddon = {
    CancelToken: FakeCancelToken,
    unpackLayer: () => Promise.reject(new Error('must not be called')),
  };
  const controller = new AbortController();
  controller.abort(new Error('gave up'));
  const request: LayerUnpackRequest = { blobPath: '/b', destination: '/d', compression: 'none', maxUncompressedBytes: 1 };
  await t.throwsAsync(unpackLayerNative(request, addon, controller.signal), { message: 'gave up' });
});

async function countOpen(): Promise<{ fds: number; threads: number }> {
  return { fds: (await readdir('/proc/self/fd')).length, threads: (await readdir('/proc/self/task')).length };
}

// Serial, so that no other test of this file opens files meanwhile.
test.serial('unpacks leave no fd or thread behind, whether they succeed, fail or are aborted', async (t) => {
  const dir = await scratch(t);
  const good = path.join(dir, 'good.tar');
  await writeFile(good, tarArchive([{ type: 'file', path: 'd/f', content: 'x' }]));
  const hostile = path.join(dir, 'hostile.tar');
  await writeFile(hostile, tarArchive([{ type: 'symlink', path: 'a', target: '/' }, { type: 'file', path: 'a/x' }]));
  const before = await countOpen();
  let index = 0;
  const attempt = async (blobPath: string, compression: LayerCompression, signal?: AbortSignal): Promise<void> => {
    const destination = path.join(dir, `dest${(index += 1)}`);
    await mkdir(destination);
    await unpackLayerNative({ blobPath, destination, compression, maxUncompressedBytes: NO_LIMIT }, undefined, signal).catch(
      () => undefined,
    );
  };
  await attempt(good, 'none');
  await attempt(hostile, 'none');
  await attempt(good, 'gzip');
  await attempt(good, 'none', AbortSignal.abort());
  const controller = new AbortController();
  const aborted = attempt(good, 'zstd', controller.signal);
  controller.abort();
  await aborted;
  // A thread may still be unwinding just after it settled its promise.
  let after = await countOpen();
  for (let wait = 0; wait < 50 && after.threads > before.threads; wait += 1) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    after = await countOpen();
  }
  t.deepEqual(after, before);
});
