import { readlink } from 'node:fs/promises';
import path from 'node:path';
import { readOptional } from './cgroup-files.js';
import { controllerDir, type CgroupHierarchies } from './cgroup-usage.js';

/**
 * A cgroup's block I/O per device, for cAdvisor's container_fs_reads/writes
 * and container_blkio_device_usage_total: v1 blkio's throttle counters
 * (kept whichever I/O scheduler the device uses) or v2 io.stat.
 */

export interface DeviceIo {
  readonly major: number;
  readonly minor: number;
  readonly readBytes: bigint;
  readonly writeBytes: bigint;
  readonly reads: bigint;
  readonly writes: bigint;
}

/** null when the host has no blkio/io controller for this cgroup, or its files are gone. */
export async function readBlockIo(hierarchies: CgroupHierarchies, dir: string): Promise<DeviceIo[] | null> {
  const blkio = controllerDir(hierarchies, 'blkio', dir);
  if (blkio !== null && blkio.version === 1) {
    const [bytes, ios] = await Promise.all([
      readOptional(path.join(blkio.path, 'blkio.throttle.io_service_bytes_recursive')),
      readOptional(path.join(blkio.path, 'blkio.throttle.io_serviced_recursive')),
    ]);
    if (bytes === null || ios === null) return null;
    return mergeV1(parseV1(bytes), parseV1(ios));
  }
  const io = controllerDir(hierarchies, 'io', dir);
  if (io === null) return null;
  const stat = await readOptional(path.join(io.path, 'io.stat'));
  return stat === null ? null : parseIoStat(stat);
}

/** `MAJ:MIN Read N` lines (and Write, Sync, Async, Discard, Total), then a bare `Total N`. */
export function parseV1(text: string): Map<string, Map<string, bigint>> {
  const devices = new Map<string, Map<string, bigint>>();
  for (const line of text.split('\n')) {
    const match = /^(\d+:\d+) (\w+) (\d+)$/.exec(line.trim());
    if (match?.[1] === undefined || match[2] === undefined || match[3] === undefined) continue;
    const device = devices.get(match[1]) ?? new Map<string, bigint>();
    device.set(match[2], BigInt(match[3]));
    devices.set(match[1], device);
  }
  return devices;
}

function mergeV1(bytes: Map<string, Map<string, bigint>>, ios: Map<string, Map<string, bigint>>): DeviceIo[] {
  return [...bytes.keys()].map((device) => {
    const [major, minor] = device.split(':').map(Number);
    return {
      major: major ?? 0,
      minor: minor ?? 0,
      readBytes: bytes.get(device)?.get('Read') ?? 0n,
      writeBytes: bytes.get(device)?.get('Write') ?? 0n,
      reads: ios.get(device)?.get('Read') ?? 0n,
      writes: ios.get(device)?.get('Write') ?? 0n,
    };
  });
}

/** `MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N` per device. */
export function parseIoStat(text: string): DeviceIo[] {
  const devices: DeviceIo[] = [];
  for (const line of text.split('\n')) {
    const [device, ...pairs] = line.trim().split(/\s+/);
    const numbers = /^(\d+):(\d+)$/.exec(device ?? '');
    if (numbers?.[1] === undefined || numbers[2] === undefined) continue;
    const keyed = new Map(pairs.map((pair) => pair.split('=') as [string, string]).filter(([, value]) => /^\d+$/.test(value ?? '')));
    const get = (key: string) => BigInt(keyed.get(key) ?? '0');
    devices.push({
      major: Number(numbers[1]),
      minor: Number(numbers[2]),
      readBytes: get('rbytes'),
      writeBytes: get('wbytes'),
      reads: get('rios'),
      writes: get('wios'),
    });
  }
  return devices;
}

/**
 * `/dev/<name>` of a block device, as cAdvisor labels it, from the
 * /sys/dev/block link; devices do not change names while the daemon runs,
 * so the answers are kept.
 */
export class DeviceNames {
  private readonly names = new Map<string, string>();

  constructor(private readonly sysDevBlock = '/sys/dev/block') {}

  async of(major: number, minor: number): Promise<string> {
    const key = `${major}:${minor}`;
    const known = this.names.get(key);
    if (known !== undefined) return known;
    const name = await readlink(path.join(this.sysDevBlock, key)).then(
      (target) => `/dev/${path.basename(target)}`,
      () => key,
    );
    this.names.set(key, name);
    return name;
  }
}
