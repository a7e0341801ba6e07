import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { InvalidArgumentError } from '../errors.js';
import type { OciSpec } from '../oci/index.js';

/**
 * A container checkpoint archive: an uncompressed tar with the layout CRI-O
 * and Podman write (checkpointctl reads it), so `crictl checkpoint --export`
 * gives the archive users of those runtimes expect and CreateContainer takes
 * one back:
 *
 *   checkpoint/       CRIU's images of the process tree
 *   dump.log          CRIU's log of the dump
 *   config.dump       what the container was (its ID, name, image)
 *   spec.dump         the OCI spec it ran with
 *   rootfs-diff.tar   what it had written to its writable layer
 *   deleted.files     JSON list of image files it had deleted
 */

const run = promisify(execFile);

export const IMAGES_DIR = 'checkpoint';
const CONFIG_DUMP = 'config.dump';
const SPEC_DUMP = 'spec.dump';
const ROOTFS_DIFF = 'rootfs-diff.tar';
const DELETED_FILES = 'deleted.files';

/**
 * Every extended attribute but overlayfs's own bookkeeping in the upper directory: GNU tar restores only `user.*`
 * unless told, which would drop file capabilities (`security.capability`).
 */
const XATTRS = ['--xattrs', '--xattrs-include=*', '--xattrs-exclude=trusted.overlay.*'];

/** config.dump, with checkpointctl's field names. */
export interface CheckpointedContainer {
  readonly id: string;
  readonly name: string;
  readonly rootfsImage: string;
  readonly rootfsImageRef: string;
  readonly rootfsImageName: string;
  readonly runtime: string;
  readonly createdTime: string;
  readonly checkpointedTime: string;
}

export interface OpenedCheckpoint {
  readonly container: CheckpointedContainer;
  readonly spec: OciSpec;
}

/** CRI-O's rule: an image reference that names a file is a checkpoint archive. Image references never start with "/". */
export async function namesArchive(image: string): Promise<boolean> {
  if (!path.isAbsolute(image)) return false;
  return (await stat(image).catch(() => null))?.isFile() ?? false;
}

/** Writes what the archive holds besides CRIU's images: config.dump, spec.dump and the writable layer's changes. */
export async function writeCheckpointFiles(staging: string, container: CheckpointedContainer, spec: OciSpec, upperDir: string): Promise<void> {
  await writeFile(path.join(staging, CONFIG_DUMP), JSON.stringify(container, null, 2));
  await writeFile(path.join(staging, SPEC_DUMP), JSON.stringify(spec, null, 2));
  const { kept, deleted } = await walkUpper(upperDir);
  await writeFile(path.join(staging, DELETED_FILES), JSON.stringify(deleted));
  // Each path given once with --no-recursion: a directory in the list must not bring its whiteouts along.
  await tar(
    [
      '--create',
      '--file',
      path.join(staging, ROOTFS_DIFF),
      '--directory',
      upperDir,
      '--numeric-owner',
      '--xattrs',
      '--no-recursion',
      '--null',
      '--files-from',
      '-',
    ],
    {
      stdin: kept.map((entry) => `${entry}\0`).join(''),
    },
  );
}

/**
 * Packs the staging directory into `location` through a temporary name in
 * the same directory, so a failure or a crash never leaves something that
 * passes for an archive there.
 */
export async function packArchive(staging: string, location: string): Promise<void> {
  const partial = path.join(path.dirname(location), `.${path.basename(location)}.${randomBytes(4).toString('hex')}.partial`);
  try {
    await tar(['--create', '--file', partial, '--directory', staging, '.']);
    await rename(partial, location);
  } finally {
    await rm(partial, { force: true });
  }
}

/** Unpacks an archive into `into` (which must exist) and reads its metadata; INVALID_ARGUMENT for a file that is no checkpoint. */
export async function unpackArchive(archive: string, into: string): Promise<OpenedCheckpoint> {
  await tar(['--extract', '--file', archive, '--directory', into, '--numeric-owner']).catch((error: unknown) => {
    throw new InvalidArgumentError(`${archive} is not a checkpoint archive: ${(error as Error).message}`, { cause: error });
  });
  const read = async <T>(name: string): Promise<T> => {
    try {
      return JSON.parse(await readFile(path.join(into, name), 'utf8')) as T;
    } catch (error) {
      throw new InvalidArgumentError(`${archive} is not a checkpoint archive: no readable ${name}`, { cause: error });
    }
  };
  const container = await read<CheckpointedContainer>(CONFIG_DUMP);
  const spec = await read<OciSpec>(SPEC_DUMP);
  if (!(await stat(path.join(into, IMAGES_DIR)).catch(() => null))?.isDirectory()) {
    throw new InvalidArgumentError(`${archive} is not a checkpoint archive: no ${IMAGES_DIR}/ directory of CRIU images`);
  }
  if (typeof container.rootfsImage !== 'string' || container.rootfsImage === '') {
    throw new InvalidArgumentError(`${archive}: ${CONFIG_DUMP} names no rootfsImage`);
  }
  return { container, spec };
}

/**
 * Puts the checkpointed writable layer back, into the new container's
 * upper directory before its overlay is mounted: what it had written is
 * unpacked there, and each image file it had deleted gets its whiteout
 * again. Working on the upper directory, not the mounted rootfs, keeps the
 * image's own symlinks (an absolute `/var/run -> /run`) from leading the
 * archive's files onto the host. Both parts are removed from the unpacked
 * archive once applied; only CRIU's images stay for the start.
 */
export async function applyRootfsDiff(unpacked: string, upperDir: string): Promise<void> {
  const deleted = JSON.parse(await readFile(path.join(unpacked, DELETED_FILES), 'utf8').catch(() => '[]')) as unknown;
  if (!Array.isArray(deleted)) throw new InvalidArgumentError(`${DELETED_FILES} is not a list of paths`);
  const diff = path.join(unpacked, ROOTFS_DIFF);
  if (await stat(diff).catch(() => null)) {
    await tar(['--extract', '--file', diff, '--directory', upperDir, '--numeric-owner', ...XATTRS]).catch((error: unknown) => {
      throw new InvalidArgumentError(`${ROOTFS_DIFF}: ${(error as Error).message}`, { cause: error });
    });
  }
  for (const entry of deleted) await whiteout(upperDir, entry);
  await rm(diff, { force: true });
  await rm(path.join(unpacked, DELETED_FILES), { force: true });
}

/** overlayfs's whiteout, a 0:0 character device, for a file of the image the container had deleted. */
async function whiteout(upperDir: string, entry: unknown): Promise<void> {
  if (typeof entry !== 'string' || entry === '' || path.isAbsolute(entry) || path.normalize(entry).split('/').includes('..')) {
    throw new InvalidArgumentError(`${DELETED_FILES}: ${JSON.stringify(entry)} is not a path inside the container`);
  }
  // Every parent must be a real directory: a symlink the archive unpacked there must not lead the device out.
  let parent = upperDir;
  for (const component of path
    .dirname(path.normalize(entry))
    .split('/')
    .filter((part) => part !== '.')) {
    parent = path.join(parent, component);
    const info = await lstat(parent).catch(() => null);
    if (info === null) await mkdir(parent, { mode: 0o755 });
    else if (!info.isDirectory()) throw new InvalidArgumentError(`${DELETED_FILES}: ${entry} is below ${component}, which is not a directory`);
  }
  const target = path.join(parent, path.basename(entry));
  await rm(target, { recursive: true, force: true });
  await run('mknod', [target, 'c', '0', '0']);
}

/**
 * The upper directory's entries relative to it, whiteouts (the 0:0
 * character devices overlayfs leaves for deleted files) apart: they are
 * what deleted.files lists.
 */
async function walkUpper(upperDir: string): Promise<{ kept: string[]; deleted: string[] }> {
  const kept: string[] = [];
  const deleted: string[] = [];
  const walk = async (relative: string): Promise<void> => {
    for (const name of await readdir(path.join(upperDir, relative))) {
      const entry = relative === '' ? name : `${relative}/${name}`;
      const info = await lstat(path.join(upperDir, entry));
      if (info.isCharacterDevice() && info.rdev === 0) {
        deleted.push(entry);
        continue;
      }
      kept.push(entry);
      if (info.isDirectory()) await walk(entry);
    }
  };
  await walk('');
  return { kept, deleted };
}

/** GNU tar: it keeps owners, modes, xattrs and special files as a container's files need, which Node has no API for. */
function tar(args: readonly string[], options: { stdin?: string } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', args, { stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`tar ${args[0]} exited with ${code}: ${stderr.trim().split('\n').at(-1) ?? ''}`));
    });
    if (options.stdin !== undefined) child.stdin!.end(options.stdin);
  });
}

/** A directory beside `location` for CRIU's images and the files around them, removed once packed. */
export async function stagingDirFor(location: string): Promise<string> {
  const staging = path.join(path.dirname(location), `.${path.basename(location)}.${randomBytes(4).toString('hex')}.staging`);
  await mkdir(staging, { mode: 0o700 });
  return staging;
}
