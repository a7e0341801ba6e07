import http from 'node:http';
import { freePort } from '../__test__/helpers/free-port.js';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPortForward, type PortForwardProcess } from '../__test__/helpers/crictl.js';
import { cpuSeconds, PodRig, type PodRuntime, type RuntimeName } from './pods.js';
import { formatNumber, median, type Benchmark, type Outcome } from './report.js';

/**
 * Bulk transfer through `crictl port-forward` (SPDY/3.1, its default, and
 * WebSocket where the runtime serves it): a
 * busybox `httpd` in a pod serves a 256 MiB file and an HTTP client in this
 * process downloads it through the forwarded local port. Every byte crosses
 * the runtime's streaming server twice (pod connection in, SPDY data frames
 * out) and crictl once, so the figure is the runtime's per-byte and
 * per-frame cost plus a fixed one of the client.
 */

const FILE_BYTES = 256 * 1024 * 1024;
/** Downloads per runtime, at least; each one moves 256 MiB, so a few suffice for a median. */
const MIN_TRANSFERS = 3;
const READY_TIMEOUT_MS = 60_000;
const TRANSFER_TIMEOUT_MS = 300_000;

/** crictl's two transports, then httpd without any runtime in the way. */
type Path = 'spdy' | 'websocket' | 'direct';
type Transport = Exclude<Path, 'direct'>;
const TRANSPORTS: readonly Transport[] = ['spdy', 'websocket'];
const PATH_LABEL: Readonly<Record<Path, string>> = {
  spdy: 'crictl port-forward (SPDY)',
  websocket: 'crictl port-forward --transport websocket',
  direct: 'direct to httpd (reference)',
};

interface Sample {
  readonly runtime: RuntimeName;
  readonly path: Path;
  readonly bytes: number;
  readonly seconds: number;
  /** The daemon's CPU seconds (user + sys) during the transfer: crion's streaming server and containerd's both run in the daemon. */
  readonly daemonCpuSeconds: number;
  readonly crictlCpuSeconds: number | null;
}

interface Target {
  readonly runtime: PodRuntime;
  readonly podPort: number;
  readonly forwards: ReadonlyMap<Transport, PortForwardProcess>;
}

export const portForwardThroughput: Benchmark = {
  id: 'port-forward-throughput',
  title: 'Port-forward throughput (256 MiB over `crictl port-forward`, SPDY): crion vs containerd',
  target: 'none yet: MB/s of one HTTP download through the forwarded port is recorded so runs can be compared',
  async run(context) {
    const rig = await PodRig.start(context);
    const runtimes: PodRuntime[] = [];
    const forwards: PortForwardProcess[] = [];
    /** Transports a runtime could not forward over, with crictl's or the daemon's words. */
    const unsupported: string[] = [];
    try {
      const targets: Target[] = [];
      for (const name of ['crion', 'containerd'] as const) {
        context.progress(`port-forward: starting ${name} and a pod serving ${FILE_BYTES} bytes`);
        const runtime = await rig.start(name);
        runtimes.push(runtime);
        // Host network, so both pods' servers need a port of their own; the host's loopback also gives the direct reference.
        const podPort = await freePort();
        const script =
          `mkdir -p /www && head -c ${FILE_BYTES} /dev/zero > /www/big && ` + `trap 'exit 0' TERM; httpd -f -p 127.0.0.1:${podPort} -h /www & wait`;
        const pod = await rig.runPod(runtime, `${name}-forward`, 'CONTAINER', ['sh', '-c', script]);
        // crictl's port-forward exits at the first connection the pod refuses, so it starts once httpd serves the whole file.
        await waitServing(podPort, runtime);
        const byTransport = new Map<Transport, PortForwardProcess>();
        for (const transport of TRANSPORTS) {
          try {
            const forward = await startForward(rig, runtime, pod.podId, podPort, transport);
            forwards.push(forward);
            await waitServing(forward.localPort, runtime, forward);
            byTransport.set(transport, forward);
          } catch (error) {
            // SPDY is the benchmark; a runtime without WebSocket port-forward leaves that row empty, saying why.
            if (transport === 'spdy') throw error;
            unsupported.push(`${runtime.label} over ${transport}: ${firstLines((error as Error).message)}`);
          }
        }
        targets.push({ runtime, podPort, forwards: byTransport });
      }
      const transfers = Math.max(MIN_TRANSFERS, context.runs);
      const samples: Sample[] = [];
      for (let n = 1; n <= transfers; n++) {
        context.progress(`port-forward: transfer ${n}/${transfers}`);
        for (const { runtime, podPort, forwards: byTransport } of targets) {
          for (const [transport, forward] of byTransport) samples.push(await measure(runtime, transport, forward.localPort, forward.child.pid!));
          samples.push(await measure(runtime, 'direct', podPort, null));
        }
      }
      return outcome(samples, runtimes, unsupported);
    } finally {
      for (const forward of forwards) forward.child.kill('SIGKILL');
      for (const runtime of runtimes) await runtime.dispose();
      await rig.dispose();
    }
  },
};

/** The crictl or daemon output that says why, without the daemon's whole log. */
function firstLines(message: string): string {
  return message
    .split(/\n--- \w+ (?:output|stderr) ---/)[0]!
    .split('\n')
    .slice(0, 6)
    .join(' ')
    .trim()
    .slice(0, 400);
}

/** `crictl port-forward --transport <transport> <pod> 0:<port>`: runs until killed, printing the local port it listens on. */
async function startForward(rig: PodRig, runtime: PodRuntime, podId: string, podPort: number, transport: Transport): Promise<PortForwardProcess> {
  const args = ['port-forward', '--transport', transport, podId, `0:${podPort}`];
  try {
    return await startPortForward(rig.crictl.binary, rig.crictl.argv(runtime.endpoint, args));
  } catch (error) {
    throw runtime.failure(`crictl port-forward against ${runtime.label}: ${(error as Error).message}`);
  }
}

/**
 * The pod writes its file before httpd listens, so a full-length answer to
 * HEAD means the file is there and served: straight from the host's loopback
 * (the pod shares the host's network), then through the forward.
 */
async function waitServing(port: number, runtime: PodRuntime, forward?: PortForwardProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const length = await new Promise<number>((resolve, reject) => {
        const request = http.request({ host: '127.0.0.1', port, path: '/big', method: 'HEAD', agent: false }, (response) => {
          response.resume();
          resolve(Number(response.headers['content-length']));
        });
        request.once('error', reject);
        request.end();
      });
      if (length === FILE_BYTES) return;
      last = `content-length ${length}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(500);
  }
  throw runtime.failure(
    `the pod on ${runtime.label} did not serve /big on port ${port}: ${last}` +
      (forward ? `; crictl port-forward exit ${forward.child.exitCode}:\n${forward.output()}` : ''),
  );
}

async function measure(runtime: PodRuntime, path: Path, port: number, crictlPid: number | null): Promise<Sample> {
  const daemonBefore = cpuSeconds(runtime.daemonPid);
  const crictlBefore = crictlPid === null ? null : cpuSeconds(crictlPid);
  const started = performance.now();
  const bytes = await download(port, runtime);
  const seconds = (performance.now() - started) / 1000;
  if (bytes !== FILE_BYTES) throw runtime.failure(`${path} download from ${runtime.label} got ${bytes} of ${FILE_BYTES} bytes`);
  return {
    runtime: runtime.name,
    path,
    bytes,
    seconds,
    daemonCpuSeconds: cpuSeconds(runtime.daemonPid) - daemonBefore,
    crictlCpuSeconds: crictlPid === null || crictlBefore === null ? null : cpuSeconds(crictlPid) - crictlBefore,
  };
}

/** GET /big on a fresh connection, counting and dropping the body. */
function download(port: number, runtime: PodRuntime): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const request = http.get({ host: '127.0.0.1', port, path: '/big', agent: false }, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        reject(runtime.failure(`GET /big from ${runtime.label} answered ${response.statusCode}`));
        return;
      }
      response.on('data', (chunk: Buffer) => (bytes += chunk.length));
      response.once('end', () => resolve(bytes));
      response.once('error', reject);
    });
    request.once('error', reject);
    request.setTimeout(TRANSFER_TIMEOUT_MS, () => request.destroy(new Error(`GET /big from ${runtime.label} timed out`)));
  });
}

function outcome(samples: readonly Sample[], runtimes: readonly PodRuntime[], unsupported: readonly string[]): Outcome {
  const of = (name: RuntimeName, path: Path): Sample[] => samples.filter((s) => s.runtime === name && s.path === path);
  const mbps = (s: Sample): number => s.bytes / 1e6 / s.seconds;
  const medianMbps = (name: RuntimeName, path: Path): number => median(of(name, path).map(mbps));
  const rows = (['spdy', 'websocket', 'direct'] as const).flatMap((path) =>
    runtimes.map(({ name, label }) => {
      const runs = of(name, path);
      if (runs.length === 0) return [PATH_LABEL[path], label, '0', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a'];
      const ratio = of('containerd', path).length === 0 ? 'n/a' : `${formatNumber(medianMbps(name, path) / medianMbps('containerd', path), 2)}×`;
      const crictl = runs.flatMap((s) => (s.crictlCpuSeconds === null ? [] : [s.crictlCpuSeconds]));
      return [
        PATH_LABEL[path],
        label,
        String(runs.length),
        formatNumber(medianMbps(name, path)),
        formatNumber(Math.min(...runs.map(mbps))),
        formatNumber(Math.max(...runs.map(mbps))),
        formatNumber(median(runs.map((s) => s.seconds)), 2),
        formatNumber(median(runs.map((s) => s.daemonCpuSeconds)), 2),
        crictl.length === 0 ? 'n/a' : formatNumber(median(crictl), 2),
        ratio,
      ];
    }),
  );
  const crion = medianMbps('crion', 'spdy');
  const containerd = medianMbps('containerd', 'spdy');
  const websocket = (name: RuntimeName): string =>
    of(name, 'websocket').length === 0 ? 'n/a' : `${formatNumber(medianMbps(name, 'websocket'))} MB/s`;
  return {
    verdict: 'reported',
    summary:
      `${formatNumber(crion)} MB/s through crion's port-forward, ${formatNumber(containerd)} MB/s through containerd's (${formatNumber(crion / containerd, 2)}×), SPDY; ` +
      `over WebSocket ${websocket('crion')} and ${websocket('containerd')}`,
    table: {
      columns: ['Path', 'Runtime', 'Transfers', 'Median MB/s', 'Min', 'Max', 'Median s', 'Daemon CPU s', 'crictl CPU s', 'vs containerd'],
      rows,
    },
    notes: [
      `Each transfer is one HTTP GET of a ${FILE_BYTES}-byte file (${FILE_BYTES / 2 ** 20} MiB of zeros, written by the pod with \`head -c\` before its server ` +
        "starts, so it is in the page cache) from busybox `httpd` in critest's busybox image, on a fresh TCP connection from Node's http client in the benchmark's " +
        'process, which counts and drops the body. MB/s is 10^6 bytes per wall second from request to the last byte; medians.',
      'Port-forward: one `crictl port-forward <pod> 0:<port>` per runtime and transport (the same crictl binary; SPDY/3.1, its default, and ' +
        '`--transport websocket`), kept up for the whole benchmark; each ' +
        'download is a new connection to its local port, so a new data and error stream pair on the same SPDY connection. ' +
        'Transfers alternate crion, containerd, after a HEAD request that checks the file is served through the forward.',
      'Direct: the same download straight from httpd on the host loopback, without any runtime in the path: the ceiling of httpd and the client ' +
        'on this host, measured in the same loop.',
      'Daemon CPU s: user + sys seconds of the daemon process during the transfer (crion serves streams in its daemon, containerd in its CRI plugin, ' +
        "in-process); crictl CPU s: the port-forward client's. Both come from /proc/PID/stat, at 10 ms resolution.",
      'Pods use the host network (so no CNI) with a PID namespace per container; the server listens on a free port of 127.0.0.1 chosen per runtime, ' +
        "and each runtime's port-forward connects to it from the pod's (the host's) network namespace.",
      ...unsupported.map((reason) => `Not measured: ${reason}.`),
    ],
    data: { unsupported, fileBytes: FILE_BYTES, runtimes: runtimes.map(({ name, label }) => ({ name, label })), samples },
  };
}
