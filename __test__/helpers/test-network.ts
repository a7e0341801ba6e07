import { execFile } from 'node:child_process';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from './process.js';

/**
 * A bridge and a /24 of its own for each test daemon. The daemon writes its
 * default network (bridge + host-local + portmap) at start, and ava runs test
 * files in parallel processes: two daemons on one bridge and subnet would
 * lease the same addresses from their separate host-local dirs. Claims are
 * files holding the claimant's PID, so a crashed test run's claims are taken
 * over rather than leaked.
 */

export interface TestNetwork {
  readonly bridge: string;
  /** e.g. 10.231.7.0/24 */
  readonly subnet: string;
  /** e.g. 10.231.7. */
  readonly prefix: string;
}

const CLAIM_DIR = '/run/crion-test-networks';
// 10.231.0.0/16 is not used by the default network (10.88.0.0/16) nor by any test that picks its own subnet.
const SECOND_OCTET = 231;
const CLAIMS = 250;

export async function claimTestNetwork(): Promise<TestNetwork> {
  await mkdir(CLAIM_DIR, { recursive: true });
  for (let index = 1; index <= CLAIMS; index++) {
    if (await claim(index)) {
      return { bridge: `crion-t${index}`, subnet: `10.${SECOND_OCTET}.${index}.0/24`, prefix: `10.${SECOND_OCTET}.${index}.` };
    }
  }
  throw new Error(`all ${CLAIMS} test networks in ${CLAIM_DIR} are claimed by live processes`);
}

/**
 * Deletes the bridge (the bridge plugin never does), the NAT rules of pods
 * whose DEL never ran (a test that killed its daemon), and frees the claim.
 */
export async function releaseTestNetwork(network: TestNetwork): Promise<void> {
  await deleteNetworkLeftovers(network.bridge, network.prefix);
  await unlink(claimFile(network.bridge)).catch(() => {});
}

function claimFile(bridge: string): string {
  return `${CLAIM_DIR}/${bridge}`;
}

async function claim(index: number): Promise<boolean> {
  const bridge = `crion-t${index}`;
  const file = claimFile(bridge);
  // Written whole under a private name, then linked: a reader never sees a claim without its PID.
  const draft = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  await writeFile(draft, String(process.pid));
  try {
    await link(draft, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(draft).catch(() => {});
  }
  const owner = Number(await readFile(file, 'utf8').catch(() => '0'));
  if (owner === process.pid || isAlive(owner)) return false;
  // A dead claimant's network: its bridge and rules may still be there, so start clean.
  await deleteNetworkLeftovers(bridge, `10.${SECOND_OCTET}.${index}.`);
  try {
    await unlink(file);
  } catch {
    return false;
  }
  return claim(index);
}

async function deleteNetworkLeftovers(bridge: string, prefix: string): Promise<void> {
  await new Promise<void>((resolve) => execFile('ip', ['link', 'del', bridge], () => resolve()));
  await deleteNatRulesFor(prefix);
}

/**
 * The bridge plugin's masquerade and portmap's DNAT/SNAT rules live in
 * CNI-* chains that name the pod's address; drop those chains and every
 * rule that jumps to them or names the address.
 */
async function deleteNatRulesFor(prefix: string): Promise<void> {
  const saved = await run('iptables-save', ['-t', 'nat']);
  if (saved.code !== 0) return;
  const rules = saved.stdout.split('\n').filter((line) => line.startsWith('-A '));
  const isPodChain = (chain: string | undefined): chain is string =>
    chain !== undefined && chain.startsWith('CNI-') && !chain.startsWith('CNI-HOSTPORT-');
  const chains = new Set<string>();
  for (const rule of rules.filter((candidate) => candidate.includes(prefix))) {
    const [, chain] = rule.split(' ');
    const target = / -j (\S+)/.exec(rule)?.[1];
    if (isPodChain(chain)) chains.add(chain);
    if (isPodChain(target)) chains.add(target);
  }
  const deletions = rules.filter((rule) => {
    const [, chain] = rule.split(' ');
    const target = / -j (\S+)/.exec(rule)?.[1];
    return !chains.has(chain ?? '') && (rule.includes(prefix) || chains.has(target ?? ''));
  });
  if (deletions.length === 0 && chains.size === 0) return;
  // iptables-restore parses the quoted comments iptables-save prints, which splitting on spaces would not.
  const script = [
    '*nat',
    ...deletions.map((rule) => `-D ${rule.slice(3)}`),
    ...[...chains].flatMap((chain) => [`-F ${chain}`, `-X ${chain}`]),
    'COMMIT',
    '',
  ].join('\n');
  const file = path.join(os.tmpdir(), `crion-test-nat-${process.pid}-${Math.random().toString(36).slice(2)}`);
  await writeFile(file, script);
  await run('iptables-restore', ['--noflush', file]);
  await unlink(file).catch(() => {});
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
