import test from 'ava';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  ADDON_PATH_ENV,
  NativeError,
  probeHost,
  type CgroupLayout,
  type HostProbe,
  type HostProbeAddon,
} from '../../src/native/index.js';
import { testNeeding } from '../helpers/host-requirements.js';
import { kernelFeatures } from '../helpers/kernel-features.js';
import { run } from '../helpers/process.js';
import { repoRoot } from '../helpers/repo.js';

/** Bit of CAP_SYS_RESOURCE in the CapEff mask (linux/capability.h). */
const CAP_SYS_RESOURCE = 24n;

// One probe for the whole file, started by the first test that needs it.
let probed: Promise<HostProbe> | undefined;
function probe(): Promise<HostProbe> {
  probed ??= probeHost();
  return probed;
}

test('the kernel release is what uname reports', async (t) => {
  t.is((await probe()).kernelRelease, os.release());
});

test('overlay is available exactly when /proc/filesystems lists it', async (t) => {
  const listed = (await readFile('/proc/filesystems', 'utf8'))
    .split('\n')
    .some((line) => line.split(/\s+/).at(-1) === 'overlay');
  t.is((await probe()).overlay.available, listed);
});

test('the cgroup layout and controllers match /proc/self/mountinfo', async (t) => {
  const expected = await readCgroupMounts();
  const { cgroups } = await probe();
  t.is(cgroups.layout, expected.layout);
  t.deepEqual(cgroups.v1Controllers, expected.v1Controllers);
  t.is(cgroups.v2?.mountPoint ?? null, expected.v2MountPoint);
  if (expected.v2MountPoint !== null) {
    const listed = await readFile(path.join(expected.v2MountPoint, 'cgroup.controllers'), 'utf8');
    t.deepEqual(cgroups.v2?.controllers, listed.split(/\s+/).filter(Boolean));
  }
});

test('oom_score_adj can be lowered exactly when CapEff holds CAP_SYS_RESOURCE', async (t) => {
  const status = await readFile('/proc/self/status', 'utf8');
  const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? ''}`);
  const current = Number((await readFile('/proc/self/oom_score_adj', 'utf8')).trim());
  const { oomScoreAdj } = await probe();
  t.is(oomScoreAdj.current, current);
  t.is(oomScoreAdj.lowering.available, ((capEff >> CAP_SYS_RESOURCE) & 1n) === 1n && current > -1000);
});

// The kernel's answers come from the same syscalls issued by perl (helpers/kernel-features.ts), so a probe that reads
// a feature wrongly fails here whichever way this host answers.
test('pidfd_open and waitid(P_PIDFD) are reported as the kernel answers them', async (t) => {
  const kernel = kernelFeatures();
  const { pidfd } = await probe();
  t.is(pidfd.open.available, kernel.pidfdOpen === null, `kernel: ${kernel.pidfdOpen ?? 'works'}`);
  t.is(pidfd.waitid.available, kernel.waitidPidfd === null, `kernel: ${kernel.waitidPidfd ?? 'works'}`);
});

test('fsopen("overlay") and lowerdir+ are reported as the kernel answers them', async (t) => {
  const kernel = kernelFeatures();
  const { mountApi } = await probe();
  t.is(mountApi.fsopenOverlay.available, kernel.fsopenOverlay === null, `kernel: ${kernel.fsopenOverlay ?? 'works'}`);
  // The kernel's answer is an overlay superblock actually created from lowerdir+ layers.
  t.is(mountApi.lowerdirAppend.available, kernel.lowerdirAppend === null, `kernel: ${kernel.lowerdirAppend ?? 'works'}`);
  if (!mountApi.fsopenOverlay.available) t.false(mountApi.lowerdirAppend.available, 'lowerdir+ without fsopen');
});

test('user namespaces follow /proc/sys/user/max_user_namespaces', async (t) => {
  const max = await readFile('/proc/sys/user/max_user_namespaces', 'utf8').then(
    (text) => Number(text.trim()),
    () => null,
  );
  const { userNamespaces } = await probe();
  t.is(userNamespaces.maxUserNamespaces, max);
  t.is(userNamespaces.available, max !== null && max > 0);
});

test('every optional field is null rather than undefined, and a reason comes with every unavailable feature', async (t) => {
  const answer = await probe();
  t.deepEqual(findUndefined(answer, 'probe'), []);
  const supports = [
    answer.overlay,
    answer.mountApi.fsopenOverlay,
    answer.mountApi.lowerdirAppend,
    answer.pidfd.open,
    answer.pidfd.waitid,
    answer.userNamespaces,
    answer.oomScoreAdj.lowering,
  ];
  for (const support of supports) t.is(support.reason === null, support.available);
});

test('probeHost returns what an injected addon gives', async (t) => {
  const fake = await probe();
  const addon: HostProbeAddon = { probeHost: () => Promise.resolve(fake) };
  t.is(await probeHost(addon), fake);
});

test('a coded error from the addon comes back as a NativeError', async (t) => {
  const thrown = Object.assign(new Error('reading /proc/self/mountinfo: Permission denied (os error 13)'), {
    code: 'ERR_HOST_PROBE_READ',
  });
  const error = await t.throwsAsync(probeHost({ probeHost: () => Promise.reject(thrown) }), {
    instanceOf: NativeError,
  });
  t.is(error?.code, 'ERR_HOST_PROBE_READ');
  t.is(error?.message, thrown.message);
  t.is(error?.cause, thrown);
});

test(`a bad ${ADDON_PATH_ENV} fails naming the path and why, without falling back`, async (t) => {
  const missing = path.join(os.tmpdir(), 'crion-no-such-addon.node');
  const missingResult = await loadInChild(indexModule(), { [ADDON_PATH_ENV]: missing });
  t.like(missingResult, { name: 'NativeAddonLoadError', code: 'ERR_NATIVE_ADDON_LOAD' });
  t.deepEqual(missingResult.attempts, [{ candidate: missing, failure: 'not found' }]);
  t.true(missingResult.message.includes(`${missing}: not found`));

  const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-addon-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const notAnAddon = path.join(dir, 'crion.linux-x64-gnu.node');
  await writeFile(notAnAddon, 'not a shared object\n');
  const invalid = await loadInChild(indexModule(), { [ADDON_PATH_ENV]: notAnAddon });
  t.is(invalid.attempts.length, 1);
  t.is(invalid.attempts[0]?.candidate, notAnAddon);
  // dlopen's own message, which starts with the path it refused.
  t.true(invalid.attempts[0]?.failure.startsWith(`${notAnAddon}: `), invalid.attempts[0]?.failure);
});

test('without the override and with no platform package installed, the error lists the package folder and says to install it', async (t) => {
  // A copy of the compiled module in a tree with no built addon and no
  // node_modules, so every default candidate is missing.
  const root = await mkdtemp(path.join(os.tmpdir(), 'crion-pkg-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const nativeDir = path.join(root, 'dist', 'src', 'native');
  await writeFile(path.join(root, 'package.json'), JSON.stringify({ name: 'crion', type: 'module' }));
  // All of dist/src, since the native module imports the domain errors it rebuilds.
  const compiledDir = fileURLToPath(new URL('../../src/', import.meta.url));
  await cp(compiledDir, path.join(root, 'dist', 'src'), {
    recursive: true,
    filter: (source) => !source.endsWith('.map'),
  });

  const result = await loadInChild(path.join(nativeDir, 'index.js'), {});
  t.deepEqual(result.attempts, [{ candidate: path.join(root, 'npm', 'linux-x64-gnu', 'crion.linux-x64-gnu.node'), failure: 'not found' }]);
  t.regex(result.message, /install the @crion\/linux-x64-gnu package beside crion/);
});

test('installed as npm -g leaves them, crion beside @crion/linux-x64-gnu, the daemon finds the addon and crion-monitor in the platform package', async (t) => {
  // <prefix>/lib/node_modules/{crion,@crion/linux-x64-gnu}, with no npm/ folder in crion's own package.
  const prefix = await mkdtemp(path.join(os.tmpdir(), 'crion-prefix-'));
  t.teardown(() => rm(prefix, { recursive: true, force: true }));
  const root = path.join(prefix, 'lib', 'node_modules', 'crion');
  const platform = path.join(prefix, 'lib', 'node_modules', '@crion', 'linux-x64-gnu');
  await mkdir(root, { recursive: true });
  await writeFile(path.join(root, 'package.json'), JSON.stringify({ name: 'crion', type: 'module' }));
  await cp(fileURLToPath(new URL('../../src/', import.meta.url)), path.join(root, 'dist', 'src'), { recursive: true, filter: (source) => !source.endsWith('.map') });
  const built = path.join(repoRoot, 'npm', 'linux-x64-gnu');
  await cp(built, platform, { recursive: true });

  const found = await inChild<string>(path.join(root, 'dist', 'src', 'native', 'index.js'), { CRION_MONITOR: '' }, 'native.loadAddon(); return native.monitorBinary();');
  t.is(found, path.join(platform, 'crion-monitor'));
});

test('the platform package packs the addon and crion-monitor', async (t) => {
  const packed = await run('npm', ['pack', '--dry-run', '--json'], { cwd: path.join(repoRoot, 'npm', 'linux-x64-gnu') });
  t.is(packed.code, 0, packed.stderr);
  const [tarball] = JSON.parse(packed.stdout) as Array<{ files: Array<{ path: string; mode: number }> }>;
  const files = tarball?.files ?? [];
  t.deepEqual(files.map((file) => file.path).sort(), ['README.md', 'crion-monitor', 'crion.linux-x64-gnu.node', 'package.json']);
  t.is((files.find((file) => file.path === 'crion-monitor')?.mode ?? 0) & 0o111, 0o111, 'crion-monitor stays executable');
});

test(`${ADDON_PATH_ENV} pointing at the built addon loads it`, async (t) => {
  const built = path.join(repoRoot, 'npm', 'linux-x64-gnu', 'crion.linux-x64-gnu.node');
  const probe = await inChild<HostProbe>(indexModule(), { [ADDON_PATH_ENV]: built }, 'return await native.probeHost();');
  t.is(probe.kernelRelease, os.release());
});

// The scratch directory for the lowerdir+ check is made under TMPDIR, once fsopen("overlay") has worked.
testNeeding(kernelFeatures().fsopenOverlay)('a probe failure reaches JS as a NativeError with its code and cause chain', async (t) => {
  const tmpdir = '/proc/crion-no-such-dir';
  const error = await inChild<{ name: string; code: string; message: string }>(
    indexModule(),
    { TMPDIR: tmpdir },
    `try { await native.probeHost(); return null; }
     catch (error) { return { name: error.name, code: error.code, message: error.message }; }`,
  );
  t.like(error, { name: 'NativeError', code: 'ERR_HOST_PROBE_SCRATCH_DIR' });
  t.true(
    error.message.startsWith(`creating a scratch directory under ${tmpdir}: No such file or directory`),
    error.message,
  );
});

interface LoadFailure {
  name: string;
  code: string;
  message: string;
  attempts: { candidate: string; failure: string }[];
}

function indexModule(): string {
  return fileURLToPath(new URL('../../src/native/index.js', import.meta.url));
}

function loadInChild(modulePath: string, env: Record<string, string>): Promise<LoadFailure> {
  return inChild<LoadFailure>(
    modulePath,
    env,
    `try { native.loadAddon(); return null; }
     catch (error) { return { name: error.name, code: error.code, message: error.message, attempts: error.attempts }; }`,
  );
}

/**
 * Runs `body` (an async function body that sees the module as `native`) in a
 * fresh Node process, since the loader caches the addon for its process's
 * life, and returns what the body returned. The override variable is cleared
 * unless `env` sets it.
 */
async function inChild<T>(modulePath: string, env: Record<string, string>, body: string): Promise<T> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  if (!(ADDON_PATH_ENV in env)) delete childEnv[ADDON_PATH_ENV];
  const script = `const native = await import(${JSON.stringify(pathToFileURL(modulePath).href)});
    console.log(JSON.stringify(await (async () => { ${body} })()));`;
  const result = await run(process.execPath, ['--input-type=module', '-e', script], { env: childEnv });
  if (result.code !== 0) throw new Error(`child process failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}
interface CgroupMounts {
  layout: CgroupLayout | null;
  v1Controllers: { name: string; mountPoint: string }[];
  v2MountPoint: string | null;
}

/** An independent reading of mountinfo (proc(5)) to check the Rust parser against. */
async function readCgroupMounts(): Promise<CgroupMounts> {
  const mountFlags = new Set(['rw', 'ro', 'noprefix', 'xattr', 'clone_children', 'cpuset_v2_mode', 'favordynmods']);
  const v1Controllers: CgroupMounts['v1Controllers'] = [];
  const cgroup2MountPoints: string[] = [];
  for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter(Boolean)) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    const mountPoint = (fields[4] ?? '').replace(/\\([0-7]{3})/g, (_, octal: string) =>
      String.fromCharCode(parseInt(octal, 8)),
    );
    const fsType = fields[separator + 1];
    if (fsType === 'cgroup2') cgroup2MountPoints.push(mountPoint);
    if (fsType !== 'cgroup') continue;
    for (const option of (fields[separator + 3] ?? '').split(',')) {
      if (!option || mountFlags.has(option) || option.startsWith('release_agent=')) continue;
      if (!v1Controllers.some((controller) => controller.name === option)) {
        v1Controllers.push({ name: option, mountPoint });
      }
    }
  }
  const unifiedAtRoot = cgroup2MountPoints.includes('/sys/fs/cgroup');
  const v2MountPoint = unifiedAtRoot ? '/sys/fs/cgroup' : (cgroup2MountPoints[0] ?? null);
  let layout: CgroupLayout | null = null;
  if (unifiedAtRoot) layout = 'v2';
  else if (v1Controllers.length > 0) layout = v2MountPoint === null ? 'v1' : 'hybrid';
  else if (v2MountPoint !== null) layout = 'v2';
  return { layout, v1Controllers, v2MountPoint };
}

function findUndefined(value: unknown, at: string): string[] {
  if (value === undefined) return [at];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, child]) => findUndefined(child, `${at}.${key}`));
}
