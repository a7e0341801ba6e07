/**
 * The C programs of __test__/fixtures/images/, compiled statically with the machine's gcc
 * (build-essential, from scripts/setup.sh) for the images that stand in for critest's. A
 * build takes seconds, so the binaries are cached on disk like the big image: under
 * $CRION_TEST_CACHE if set, else the OS temp dir, keyed by the source, the flags and the
 * compiler, so an edit to either rebuilds.
 */

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './repo.js';

const execFileAsync = promisify(execFile);

/** Each program's source is `__test__/fixtures/images/<name>.c`. */
export type StaticProgramName = 'web-server' | 'ipcs' | 'nnp';

const FLAGS = ['-static', '-Os', '-s', '-Wall', '-Wextra', '-Werror'];

const built = new Map<StaticProgramName, Promise<Buffer>>();

/** The program's binary; compiled at most once per process, and only when the cache lacks it. */
export function staticProgram(name: StaticProgramName): Promise<Buffer> {
  let binary = built.get(name);
  if (!binary) {
    binary = compileCached(name);
    built.set(name, binary);
  }
  return binary;
}

async function compileCached(name: StaticProgramName): Promise<Buffer> {
  const source = path.join(repoRoot, '__test__', 'fixtures', 'images', `${name}.c`);
  const text = await readFile(source);
  const compiler = await gccVersion();
  const key = createHash('sha256').update(text).update(JSON.stringify(FLAGS)).update(compiler).digest('hex').slice(0, 16);
  const root = process.env.CRION_TEST_CACHE ?? path.join(os.tmpdir(), 'crion-test-cache');
  const output = path.join(root, 'static-programs', `${name}-${key}`);
  try {
    return await readFile(output);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(path.dirname(output), { recursive: true });
  // Built in a private directory and renamed into place: a concurrent test process sees the whole binary or none.
  const work = await mkdtemp(`${output}.tmp-`);
  try {
    const partial = path.join(work, name);
    await execFileAsync('gcc', [...FLAGS, '-o', partial, source]).catch((error: Error & { stderr?: string }) => {
      throw new Error(`gcc could not build ${source} (apt-get install build-essential): ${error.stderr ?? error.message}`);
    });
    await rename(partial, output);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return readFile(output);
}

async function gccVersion(): Promise<string> {
  try {
    return (await execFileAsync('gcc', ['--version'])).stdout;
  } catch (error) {
    throw new Error(`cannot run gcc (apt-get install build-essential): ${(error as Error).message}`, { cause: error });
  }
}
