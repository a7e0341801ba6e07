import type { ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { preparePrivateMountDir, removePodNamespaces } from '../../src/native/index.js';
import { run } from './process.js';

/** A private mount point for namespace pins, as the daemon's `<state>/pods` is, with its pins torn down after the test. */
export async function namespaceDir(t: ExecutionContext): Promise<string> {
  const parent = await mkdtemp(path.join(os.tmpdir(), 'crion-podns-'));
  const dir = path.join(parent, 'ns');
  await preparePrivateMountDir(dir);
  t.teardown(async () => {
    await removePodNamespaces(dir).catch(() => undefined);
    await run('umount', ['--lazy', dir]);
    await rm(parent, { recursive: true, force: true });
  });
  return dir;
}
