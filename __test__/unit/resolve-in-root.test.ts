import test, { type ExecutionContext } from 'ava';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveInRoot } from '../../src/fs/resolve-in-root.js';

/**
 * An image tree below a scratch directory, itself below another scratch
 * directory that stands for the host: `host/etc/secret` exists outside the
 * image, so a resolution that escapes finds it.
 */
async function imageTree(t: ExecutionContext): Promise<{ host: string; root: string }> {
  const host = await mkdtemp(path.join(os.tmpdir(), 'crion-in-root-'));
  t.teardown(() => rm(host, { recursive: true, force: true }));
  await mkdir(path.join(host, 'etc'));
  await writeFile(path.join(host, 'etc', 'secret'), 'host\n');
  const root = path.join(host, 'image');
  await mkdir(path.join(root, 'etc', 'ssl'), { recursive: true });
  await writeFile(path.join(root, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
  await mkdir(path.join(root, 'usr', 'share'), { recursive: true });
  await symlink('/etc', path.join(root, 'usr', 'etc-absolute'));
  await symlink('../../etc', path.join(root, 'usr', 'share', 'etc-relative'));
  await symlink('/etc/ssl/../passwd', path.join(root, 'passwd-link'));
  await symlink('../../../../../etc', path.join(root, 'climbs-out'));
  await symlink('/../etc', path.join(root, 'absolute-climbs-out'));
  await symlink('loop-b', path.join(root, 'loop-a'));
  await symlink('loop-a', path.join(root, 'loop-b'));
  return { host, root };
}

test('a plain sub-path resolves below the root, "." and empty components dropped', async (t) => {
  const { root } = await imageTree(t);
  t.deepEqual(await resolveInRoot(root, 'etc'), { kind: 'found', path: path.join(root, 'etc') });
  t.deepEqual(await resolveInRoot(root, './etc//ssl/'), { kind: 'found', path: path.join(root, 'etc', 'ssl') });
  t.deepEqual(await resolveInRoot(root, ''), { kind: 'found', path: root });
  t.deepEqual(await resolveInRoot(root, 'etc/passwd'), { kind: 'found', path: path.join(root, 'etc', 'passwd') });
});

test("an absolute symbolic link to /etc is the image's /etc, not the host's", async (t) => {
  const { root } = await imageTree(t);
  t.deepEqual(await resolveInRoot(root, 'usr/etc-absolute'), { kind: 'found', path: path.join(root, 'etc') });
  t.deepEqual(await resolveInRoot(root, 'usr/etc-absolute/passwd'), { kind: 'found', path: path.join(root, 'etc', 'passwd') });
  t.deepEqual(await resolveInRoot(root, 'passwd-link'), { kind: 'found', path: path.join(root, 'etc', 'passwd') });
  t.deepEqual(await resolveInRoot(root, 'usr/etc-absolute/secret'), { kind: 'missing', missing: 'etc/secret' }, "the host's file is not found");
});

test('a relative link and ".." that stay inside the image resolve through real directories', async (t) => {
  const { root } = await imageTree(t);
  t.deepEqual(await resolveInRoot(root, 'usr/share/etc-relative/ssl'), { kind: 'found', path: path.join(root, 'etc', 'ssl') });
  t.deepEqual(await resolveInRoot(root, 'usr/share/../../etc'), { kind: 'found', path: path.join(root, 'etc') });
  // ".." after a link climbs from where the link led, as the kernel does.
  t.deepEqual(await resolveInRoot(root, 'usr/etc-absolute/../usr'), { kind: 'found', path: path.join(root, 'usr') });
});

test('".." above the root is refused, from the path or from a link', async (t) => {
  const { root } = await imageTree(t);
  for (const name of ['..', '../..', '../image/etc', 'etc/../../etc', 'climbs-out', 'climbs-out/secret', 'absolute-climbs-out', '/../etc']) {
    t.deepEqual(await resolveInRoot(root, name), { kind: 'escapes' }, name);
  }
});

test('a missing component, or one below a file, is named; a link loop is refused', async (t) => {
  const { root } = await imageTree(t);
  t.deepEqual(await resolveInRoot(root, 'not-existing'), { kind: 'missing', missing: 'not-existing' });
  t.deepEqual(await resolveInRoot(root, 'etc/nope/deeper'), { kind: 'missing', missing: 'etc/nope' });
  t.deepEqual(await resolveInRoot(root, 'etc/passwd/inside'), { kind: 'missing', missing: 'etc/passwd/inside' });
  t.deepEqual(await resolveInRoot(root, 'loop-a'), { kind: 'too-many-links' });
});
