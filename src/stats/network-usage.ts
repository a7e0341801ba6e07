import { readFile } from 'node:fs/promises';

export interface InterfaceUsage {
  readonly name: string;
  readonly rxBytes: bigint;
  readonly rxPackets: bigint;
  readonly rxErrors: bigint;
  readonly rxDropped: bigint;
  readonly txBytes: bigint;
  readonly txPackets: bigint;
  readonly txErrors: bigint;
  readonly txDropped: bigint;
}

/**
 * The interfaces of the network namespace `pid` lives in, loopback left
 * out, from /proc/<pid>/net/dev: Node cannot enter the pod's namespace to
 * read /sys/class/net, but procfs shows it through any of its processes.
 * null when the process is gone.
 */
export async function readNetworkUsage(pid: number): Promise<InterfaceUsage[] | null> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/net/dev`, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return null;
    throw error;
  }
  return parseNetDev(text);
}

/** Two header lines, then `name: rx_bytes rx_packets rx_errs … (8 receive fields) tx_bytes tx_packets tx_errs …`. */
export function parseNetDev(text: string): InterfaceUsage[] {
  const interfaces: InterfaceUsage[] = [];
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    if (name === 'lo' || fields.length < 16 || !fields.every((field) => /^\d+$/.test(field))) continue;
    const field = (index: number) => BigInt(fields[index] ?? '0');
    interfaces.push({
      name,
      rxBytes: field(0),
      rxPackets: field(1),
      rxErrors: field(2),
      rxDropped: field(3),
      txBytes: field(8),
      txPackets: field(9),
      txErrors: field(10),
      txDropped: field(11),
    });
  }
  return interfaces;
}
