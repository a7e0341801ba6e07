import test from 'ava';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { replaceFile, writeFileAtomic } from '../../src/fs/atomic-write.js';

for (const [name, write] of [
  ['writeFileAtomic', writeFileAtomic],
  ['replaceFile', replaceFile],
] as const) {
  test(`${name} replaces the content with the mode asked for and leaves no temporary file`, async (t) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-atomic-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'record.json');
    await write(file, 'old');
    await write(file, '{"state":"new"}', 0o600);
    t.is(await readFile(file, 'utf8'), '{"state":"new"}');
    t.deepEqual(await readdir(dir), ['record.json']);
    // The mode is the new file's: the replacement is a new inode.
    t.is((await stat(file)).mode & 0o777, 0o600);
  });

  test(`${name} into a missing directory fails and leaves nothing`, async (t) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-atomic-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    await t.throwsAsync(write(path.join(dir, 'missing', 'record.json'), 'x'), { code: 'ENOENT' });
    t.deepEqual(await readdir(dir), []);
  });
}
