import path from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import type { CgroupDriver } from '../runtime/cgroup-driver.js';

/**
 * linux.cgroupsPath for a container or a pod's infra process. The kubelet
 * names the pod's cgroup parent in its own driver's terms: a path such as
 * `/kubepods/besteffort/pod<uid>` under cgroupfs, a slice such as
 * `kubepods-besteffort-pod<uid>.slice` under systemd. critest sends
 * `/test.slice` unless RuntimeConfig says cgroupfs, so the cgroupfs driver
 * also accepts slice names and expands them to the directories systemd
 * would have made.
 */

const FIELD = 'linux.cgroup_parent';
const SLICE = '.slice';
/** runc puts a systemd-driven container under system.slice when no slice is named; crion says so explicitly. */
const DEFAULT_SLICE = 'system.slice';
/** Where cgroupfs containers of a pod without a parent go, so they are not scattered over the root. */
const DEFAULT_CGROUPFS_PARENT = '/crion';

/**
 * The pod's parent in the driver's form: an absolute cgroupfs path, or the
 * name of the systemd slice.
 */
export function cgroupParentPath(parent: string, driver: CgroupDriver): string {
  if (driver === 'systemd') {
    if (parent === '') return DEFAULT_SLICE;
    const slice = path.posix.basename(parent);
    expandSlice(slice);
    return slice;
  }
  if (parent === '') return DEFAULT_CGROUPFS_PARENT;
  const components = parent.split('/').filter((component) => component !== '');
  if (components.includes('..') || components.includes('.')) {
    throw new InvalidArgumentError(`${FIELD}: "${parent}" may not contain "." or ".." components`);
  }
  const last = components.at(-1) ?? '';
  // A chain of slices names the path its last slice expands to; anything else is a plain cgroupfs path.
  if (components.length > 0 && components.every((component) => component.endsWith(SLICE))) {
    return expandSlice(last);
  }
  return `/${components.join('/')}`;
}

/**
 * The container's linux.cgroupsPath: `<parent>/crion-<id>` for cgroupfs,
 * runc's `<slice>:<prefix>:<name>` for systemd, which becomes the scope
 * unit `crion-<id>.scope` in that slice.
 */
export function containerCgroupsPath(parent: string, driver: CgroupDriver, id: string): string {
  const resolved = cgroupParentPath(parent, driver);
  if (driver === 'systemd') return `${resolved}:crion:${id}`;
  return path.posix.join(resolved, `crion-${id}`);
}

/** systemd's slice hierarchy, as runc's ExpandSlice computes it: `a-b-c.slice` is `/a.slice/a-b.slice/a-b-c.slice`. */
function expandSlice(slice: string): string {
  const invalid = (why: string): InvalidArgumentError => new InvalidArgumentError(`${FIELD}: "${slice}" is not a valid systemd slice name: ${why}`);
  if (!slice.endsWith(SLICE) || slice.length === SLICE.length) throw invalid('it must end in .slice');
  if (slice.includes('/')) throw invalid('it may not contain "/"');
  const name = slice.slice(0, -SLICE.length);
  if (name === '-') return '/';
  let expanded = '';
  let prefix = '';
  for (const component of name.split('-')) {
    if (component === '') throw invalid('dashes may not lead, trail or repeat');
    expanded += `/${prefix}${component}${SLICE}`;
    prefix += `${component}-`;
  }
  return expanded;
}

/**
 * Where the OCI runtime puts a linux.cgroupsPath, relative to each
 * hierarchy's mount point: the path itself for cgroupfs; for runc's
 * systemd form `<slice>:<prefix>:<name>`, the scope `<prefix>-<name>.scope`
 * in the expanded slice (or the slice itself when the name is one), as
 * runc's systemd manager computes it.
 */
export function cgroupDirOf(cgroupsPath: string): string {
  const parts = cgroupsPath.split(':');
  if (parts.length !== 3) return cgroupsPath;
  const [slice = '', prefix = '', name = ''] = parts;
  if (name.endsWith(SLICE)) return expandSlice(name);
  return path.posix.join(expandSlice(slice === '' ? DEFAULT_SLICE : slice), `${prefix}-${name}.scope`);
}

/**
 * The pod's own cgroup directory, relative to each hierarchy's mount point;
 * null when the pod names no parent, since its containers then share
 * crion's default parent with every other such pod.
 */
export function podCgroupDir(parent: string, driver: CgroupDriver): string | null {
  if (parent === '') return null;
  const resolved = cgroupParentPath(parent, driver);
  return driver === 'systemd' ? expandSlice(resolved) : resolved;
}
