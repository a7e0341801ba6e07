/**
 * Generated specs run by the real runc: a busybox rootfs in a pod whose
 * network, IPC and UTS namespaces are pinned as files (with unshare(1), as
 * crion pins them), and the kernel's view from inside the container checked
 * against what the spec asked for.
 */

import test from 'ava';
import { copyFile, link, mkdir, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BUSYBOX_GROUP, BUSYBOX_PASSWD } from '../helpers/busybox-rootfs.js';
import { handlerFeatures, imageDefaults, lookups, podConfig, podLinux, resources, sandboxContext, withSecurity } from '../helpers/oci-fixtures.js';
import { program, root, testNeeding } from '../helpers/host-requirements.js';
import { run } from '../helpers/process.js';
import type { LinuxContainerResources__Output } from '../../src/generated/runtime/v1/LinuxContainerResources.js';
import type { LinuxContainerSecurityContext__Output } from '../../src/generated/runtime/v1/LinuxContainerSecurityContext.js';
import { defaultConfig } from '../../src/config/index.js';
import { nodeFacts } from '../../src/container/node-facts.js';
import { probeHost } from '../../src/native/index.js';
import {
  capabilitiesFromMask,
  containerLimits,
  containerSpec,
  resolveUser,
  type HostFacts,
  type SandboxContext,
} from '../../src/oci/index.js';

const runcTest = testNeeding(root, program('runc'));
const APPLETS = ['sh', 'cat', 'grep', 'id', 'hostname', 'adjtimex', 'touch', 'wc'];

async function sh(command: string, args: string[]): Promise<void> {
  const result = await run(command, args);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
}

interface Pod {
  readonly dir: string;
  readonly rootfs: string;
  readonly sandbox: SandboxContext;
  readonly host: HostFacts;
}

/** One pod for the file: pinned namespaces, its files, a shm tmpfs and a busybox rootfs. */
let pod: Promise<Pod> | undefined;
const cleanups: Array<() => Promise<void>> = [];

function setUpPod(): Promise<Pod> {
  pod ??= (async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-oci-runc-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const ns = path.join(dir, 'ns');
    const shm = path.join(dir, 'shm');
    await mkdir(ns);
    await mkdir(shm);
    // Pinning needs a private mount to bind the namespace files on.
    await sh('mount', ['-t', 'tmpfs', '-o', 'mode=700', 'crion-ns', ns]);
    cleanups.push(() => sh('umount', ['--lazy', ns]));
    await sh('mount', ['--make-private', ns]);
    for (const kind of ['net', 'ipc', 'uts']) {
      await writeFile(path.join(ns, kind), '');
      cleanups.push(() => sh('umount', [path.join(ns, kind)]).catch(() => undefined));
    }
    await sh('unshare', [`--net=${ns}/net`, `--ipc=${ns}/ipc`, `--uts=${ns}/uts`, 'hostname', 'web-0']);
    await sh('mount', ['-t', 'tmpfs', '-o', 'mode=1777,size=1m', 'shm', shm]);
    cleanups.push(() => sh('umount', ['--lazy', shm]));
    await writeFile(path.join(dir, 'hosts'), '127.0.0.1 localhost web-0\n');
    await writeFile(path.join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\n');
    await writeFile(path.join(dir, 'hostname'), 'web-0\n');

    const rootfs = path.join(dir, 'rootfs');
    for (const sub of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp']) await mkdir(path.join(rootfs, sub), { recursive: true });
    await copyFile('/bin/busybox', path.join(rootfs, 'bin/busybox'));
    for (const applet of APPLETS) await link(path.join(rootfs, 'bin/busybox'), path.join(rootfs, 'bin', applet));
    await writeFile(path.join(rootfs, 'etc/passwd'), BUSYBOX_PASSWD);
    await writeFile(path.join(rootfs, 'etc/group'), BUSYBOX_GROUP);
    await writeFile(path.join(rootfs, 'etc/secret'), 'secret\n');

    const cgroupParent = `/crion-oci-test-${process.pid}`;
    // runc removes a container's cgroup but not the parents it made for it.
    cleanups.push(async () => {
      const hierarchies = ['', ...(await readdir('/sys/fs/cgroup'))];
      for (const hierarchy of hierarchies) await rmdir(path.join('/sys/fs/cgroup', hierarchy, cgroupParent)).catch(() => undefined);
    });
    return {
      dir,
      rootfs,
      sandbox: sandboxContext({
        id: `ocipod${process.pid}`,
        config: podConfig({ linux: podLinux({ cgroupParent, sysctls: { 'kernel.shm_rmid_forced': '1' } }) }),
        namespaces: { network: `${ns}/net`, ipc: `${ns}/ipc`, uts: `${ns}/uts`, pid: null },
        files: { hosts: `${dir}/hosts`, resolvConf: `${dir}/resolv.conf`, hostname: `${dir}/hostname`, shm },
      }),
      // The node as the daemon sees it, so limits meet the same controllers and page sizes runc does.
      host: nodeFacts(await probeHost(), defaultConfig(), 'cgroupfs'),
    };
  })();
  return pod;
}

test.after.always(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

/** Writes the container's spec into a bundle and runs it to completion with `runc run`. */
async function runContainer(
  name: string,
  security: Partial<LinuxContainerSecurityContext__Output>,
  script: string,
  { imageUser = '', limits = null }: { imageUser?: string; limits?: LinuxContainerResources__Output | null } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { dir, rootfs, sandbox, host } = await setUpPod();
  const id = `crion-oci-${name}-${process.pid}`;
  const bundle = path.join(dir, id);
  await mkdir(bundle);
  const secured = withSecurity(security, { command: ['sh', '-c', script] });
  const config = { ...secured, linux: { ...secured.linux!, resources: limits } };
  const spec = containerSpec({
    containerId: id,
    config,
    sandbox,
    image: imageDefaults({ user: imageUser }),
    imageName: 'busybox',
    rootfs,
    imageVolumeSources: new Map<number, string>(),
    identity: resolveUser(
      withSecurity(security).linux?.securityContext ?? null,
      imageUser,
      await readFile(path.join(rootfs, 'etc/passwd'), 'utf8'),
      await readFile(path.join(rootfs, 'etc/group'), 'utf8'),
    ),
    targetPidNamespace: null,
    limits: containerLimits(config.linux?.resources ?? null, host),
    host,
    handler: handlerFeatures(),
    lookups: lookups(),
  });
  await writeFile(path.join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
  const result = await run('runc', ['run', '--bundle', bundle, id], { timeoutMs: 30_000 });
  await run('runc', ['delete', '--force', id]);
  return result;
}

function capEff(stdout: string): Set<string> {
  const mask = /^CapEff:\s*([0-9a-f]+)$/m.exec(stdout)?.[1];
  return new Set(mask === undefined ? [] : capabilitiesFromMask(BigInt(`0x${mask}`)));
}

runcTest('RuntimeDefault seccomp and dropped capabilities hold inside a runc container', async (t) => {
  const result = await runContainer(
    'seccomp',
    {
      seccomp: { profileType: 'RuntimeDefault', localhostRef: '' },
      capabilities: { addCapabilities: [], dropCapabilities: ['NET_RAW', 'CHOWN'], addAmbientCapabilities: [] },
    },
    // Reading the clock's tuning with adjtimex(2) needs no capability, so only the filter can refuse it.
    'grep -E "^(CapEff|Seccomp):" /proc/self/status; hostname; cat /proc/sys/kernel/shm_rmid_forced; adjtimex >/dev/null; echo adjtimex=$?',
  );
  t.is(result.code, 0, result.stderr);
  const effective = capEff(result.stdout);
  t.false(effective.has('CAP_NET_RAW'));
  t.false(effective.has('CAP_CHOWN'));
  t.true(effective.has('CAP_KILL') && effective.has('CAP_SETUID'));
  t.false(effective.has('CAP_SYS_ADMIN'));
  t.regex(result.stdout, /^Seccomp:\s+2$/m, 'a filter is installed');
  t.regex(result.stdout, /^web-0$/m, 'the pod\'s hostname, from the pinned UTS namespace');
  t.regex(result.stdout, /^1$/m, 'the pod\'s sysctl');
  t.regex(result.stdout, /^adjtimex=1$/m);
  t.regex(result.stderr, /adjtimex: .*Operation not permitted/);
});

runcTest('without a filter the same syscall works, so the refusal above was seccomp\'s', async (t) => {
  const result = await runContainer('unconfined', {}, 'grep "^Seccomp:" /proc/self/status; adjtimex >/dev/null; echo adjtimex=$?');
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^Seccomp:\s+0$/m);
  t.regex(result.stdout, /^adjtimex=0$/m);
});

runcTest('the image user, its groups, a read-only rootfs and masked and read-only paths hold inside a runc container', async (t) => {
  const result = await runContainer(
    'user',
    {
      readonlyRootfs: true,
      supplementalGroups: ['1234'],
      maskedPaths: ['/etc/secret'],
      readonlyPaths: ['/dev/shm'],
      noNewPrivs: true,
    },
    'id; grep -E "^(NoNewPrivs|CapEff):" /proc/self/status; touch /tmp/x; echo rootfs=$?; touch /dev/shm/x; echo shm=$?; echo secret=$(wc -c < /etc/secret)',
    { imageUser: 'www-data' },
  );
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^uid=33\(www-data\) gid=33\(www-data\) groups=33\(www-data\),1234$/m);
  t.regex(result.stdout, /^NoNewPrivs:\s+1$/m);
  t.deepEqual([...capEff(result.stdout)], [], 'a non-root user has no effective capabilities');
  t.regex(result.stdout, /^rootfs=1$/m, 'the rootfs is read-only');
  t.regex(result.stdout, /^shm=1$/m, 'the pod\'s shm, writable for everyone, is read-only here');
  t.regex(result.stdout, /^secret=0$/m, 'a masked file reads as empty');
});

runcTest('the limits a kubelet sends on every node run in runc, hugepage limits included', async (t) => {
  const { host } = await setUpPod();
  // A Burstable container as the kubelet 1.37 sends it: shares, quota and period, a memory limit, its QoS score, and a
  // limit of 0 for each page size the kernel has, whether or not runc has a hugetlb cgroup to write it to.
  const limits = resources({
    cpuShares: '102',
    cpuQuota: '50000',
    cpuPeriod: '100000',
    memoryLimitInBytes: String(64 * 1024 * 1024),
    oomScoreAdj: '999',
    hugepageLimits: host.hugepageSizes.map((pageSize) => ({ pageSize, limit: '0' })),
  });
  const result = await runContainer('kubelet-limits', {}, 'cat /proc/self/cgroup; cat /proc/self/oom_score_adj', { limits });
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^999$/m);
});
