import test from 'ava';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DeviceNames, readBlockIo } from '../../src/stats/block-io.js';
import { cgroupHierarchies } from '../../src/stats/cgroup-usage.js';

const DIR = '/kubepods/pod1/crion-abc';

async function tree(t: { teardown(fn: () => Promise<void>): void }, files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'crion-block-io-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await writeFile(path.join(root, name), content);
  }
  return root;
}

test('v1: bytes and operations per device from the blkio throttle files', async (t) => {
  const root = await tree(t, {
    [`blkio${DIR}/blkio.throttle.io_service_bytes_recursive`]:
      '254:0 Read 4096\n254:0 Write 1024\n254:0 Sync 0\n254:0 Total 5120\n8:16 Read 1\n8:16 Write 2\nTotal 5123\n',
    [`blkio${DIR}/blkio.throttle.io_serviced_recursive`]: '254:0 Read 3\n254:0 Write 1\n8:16 Read 1\n8:16 Write 1\nTotal 6\n',
  });
  const hierarchies = cgroupHierarchies({ layout: 'hybrid', v1Controllers: [{ name: 'blkio', mountPoint: path.join(root, 'blkio') }], v2: null });
  t.deepEqual(await readBlockIo(hierarchies, DIR), [
    { major: 254, minor: 0, readBytes: 4096n, writeBytes: 1024n, reads: 3n, writes: 1n },
    { major: 8, minor: 16, readBytes: 1n, writeBytes: 2n, reads: 1n, writes: 1n },
  ]);
  t.is(await readBlockIo(hierarchies, '/gone'), null);
});

test('v2: io.stat, only where the io controller is enabled', async (t) => {
  const root = await tree(t, { [`${DIR}/io.stat`]: '254:0 rbytes=8192 wbytes=512 rios=2 wios=1 dbytes=0 dios=0\n' });
  const withIo = cgroupHierarchies({ layout: 'v2', v1Controllers: [], v2: { mountPoint: root, controllers: ['io'] } });
  t.deepEqual(await readBlockIo(withIo, DIR), [{ major: 254, minor: 0, readBytes: 8192n, writeBytes: 512n, reads: 2n, writes: 1n }]);
  const without = cgroupHierarchies({ layout: 'v2', v1Controllers: [], v2: { mountPoint: root, controllers: [] } });
  t.is(await readBlockIo(without, DIR), null);
});

test('device names come from /sys/dev/block links, MAJ:MIN when there is none', async (t) => {
  const sys = await mkdtemp(path.join(tmpdir(), 'crion-sys-dev-block-'));
  t.teardown(() => rm(sys, { recursive: true, force: true }));
  await symlink('../../devices/pci0000:00/virtio1/block/vda', path.join(sys, '254:0'));
  const names = new DeviceNames(sys);
  t.is(await names.of(254, 0), '/dev/vda');
  t.is(await names.of(1, 7), '1:7');
});
