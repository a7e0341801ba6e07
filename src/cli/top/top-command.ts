import type { Command } from 'commander';
import { CriRuntimeClient } from '../../cri/client.js';
import { endpointOf, withEndpointOptions, type EndpointOptions } from '../image-commands.js';
import { INITIAL_VIEW } from './key-bindings.js';
import { fetchSnapshot, type TopSnapshot, type TopSource } from './snapshot.js';

/**
 * `crion top`: pods and containers with their state, CPU, memory and
 * restarts, live on a terminal, read through the CRI socket as the kubelet
 * reads them. `--once` prints one snapshot instead, for scripts and pipes.
 */

const REFRESH_INTERVAL_MS = 1_000;

/** Without --once and without a terminal to draw on and read keys from, there is nothing sensible to do. */
const NO_TERMINAL =
  'crion top draws a live view and reads keys, so it needs a terminal on stdin and stdout; `crion top --once` prints one snapshot instead';

/** The width of a printed snapshot when stdout is no terminal: wide enough for the ID column. */
const PRINTED_WIDTH = 120;

interface TopOptions extends EndpointOptions {
  once?: boolean;
}

export function addTopCommand(program: Command): void {
  withEndpointOptions(
    program.command('top').description('live view of pods and containers: state, CPU, memory, restarts (keys: c, m, n, r sort; / filters; q quits)'),
  )
    .option('--once', 'print one snapshot as text and exit, also when stdout is not a terminal')
    .action((options: TopOptions) => runTop(options));
}

async function runTop(options: TopOptions): Promise<void> {
  if (!options.once && !(process.stdout.isTTY && process.stdin.isTTY)) throw new Error(NO_TERMINAL);
  const client = await CriRuntimeClient.connect(await endpointOf(options));
  try {
    if (options.once) {
      // Imported here, not at the top: the other commands, the daemon above all, need not load React and ink.
      const { snapshotText } = await import('./top-screen.js');
      const snapshot = await snapshotWithRates(client);
      process.stdout.write(snapshotText(client.endpoint, snapshot, INITIAL_VIEW, process.stdout.columns ?? PRINTED_WIDTH));
      return;
    }
    // ink takes a set CI variable to mean a CI job's log and then draws only the last frame, at exit; on a terminal that would be a blank screen.
    delete process.env.CI;
    delete process.env.CONTINUOUS_INTEGRATION;
    const { runTopApp } = await import('./top-app.js');
    await runTopApp({ source: client, endpoint: client.endpoint, intervalMs: REFRESH_INTERVAL_MS });
  } finally {
    client.close();
  }
}

/**
 * The daemon derives a container's CPU rate from its previous sample, so a
 * container nobody has asked about lately has none yet; as `crictl stats`
 * does, a second sample a refresh later fills it in.
 */
async function snapshotWithRates(source: TopSource): Promise<TopSnapshot> {
  const first = await fetchSnapshot(source);
  const lacksRate = first.pods.some((pod) => pod.containers.some((container) => container.state === 'RUNNING' && container.nanoCores === null));
  if (!lacksRate) return first;
  await new Promise((resolve) => setTimeout(resolve, REFRESH_INTERVAL_MS));
  return fetchSnapshot(source);
}
