import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { loadCriPackage } from '../../src/cri/proto.js';
import { crictl, crictlJson, startPortForward } from '../helpers/crictl.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { sharedImageSource } from '../helpers/image-source.js';
import { createBusyboxContainer, runBusyboxPod } from '../helpers/crictl-pods.js';
import { toolFromEnv } from '../helpers/repo.js';
import { TerminalSession } from '../helpers/terminal-session.js';

/**
 * Exec, attach and port-forward through the streaming server, driven by the
 * real crictl over SPDY and over WebSocket, on real runc containers.
 */

const source = sharedImageSource(test);
async function runningContainer(daemon: Daemon, name: string, command: string[], extra: Record<string, unknown> = {}) {
  const { podId, podFile } = await runBusyboxPod(daemon, source, name);
  const created = await createBusyboxContainer(daemon, source, podId, podFile, name, command, extra);
  if (created.code !== 0) throw new Error(created.stderr);
  const id = created.stdout.trim();
  const started = await crictl(daemon, ['start', id]);
  if (started.code !== 0) throw new Error(started.stderr);
  return { podId, id };
}

/**
 * crictl with stdin fed from `input`, kept open `holdMs` longer: an attach
 * ends with its client's stdin, and output after that is not the client's.
 */
function crictlWithInput(
  daemon: Daemon,
  args: string[],
  input: string,
  holdMs = 0,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(toolFromEnv('CRION_CRICTL'), ['--runtime-endpoint', daemon.endpoint, '--timeout', '30s', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.write(input);
  setTimeout(() => child.stdin.end(), holdMs);
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return once(child, 'close').then(([code]) => {
    clearTimeout(timer);
    return { code: code as number | null, stdout, stderr };
  });
}

for (const transport of ['spdy', 'websocket'] as const) {
  test(`crictl exec over ${transport}: output, stderr, stdin and the exit code`, async (t) => {
    const daemon = await startDaemon(t, { config: source.daemonConfig() });
    const { id } = await runningContainer(daemon, `exec-${transport}`, ['sleep', '3600']);

    const hello = await crictl(daemon, ['exec', '--transport', transport, id, 'sh', '-c', 'echo hello; echo oops >&2']);
    t.is(hello.code, 0, hello.stderr);
    t.is(hello.stdout, 'hello\n');
    t.regex(hello.stderr, /oops/);

    const failed = await crictl(daemon, ['exec', '--transport', transport, id, 'sh', '-c', 'exit 7']);
    t.is(failed.code, 1);
    t.regex(failed.stderr, /command terminated with exit code 7/, 'the exit code reaches crictl in the v4 status');

    const echoed = await crictlWithInput(daemon, ['exec', '-i', '--transport', transport, id, 'tr', 'a-z', 'A-Z'], 'piped through\n');
    t.is(echoed.stdout, 'PIPED THROUGH\n', echoed.stderr);

    const user = await crictl(daemon, ['exec', '--transport', transport, id, 'id', '-u']);
    t.is(user.stdout.trim(), '0', 'the command runs as the container user');
  });
}

test('crictl exec -it runs the command on a terminal that follows the window size, resize included', async (t) => {
  const daemon = await startDaemon(t, { config: source.daemonConfig() });
  const { id } = await runningContainer(daemon, 'exec-tty', ['sleep', '3600']);
  const crictlArgs = [toolFromEnv('CRION_CRICTL'), '--runtime-endpoint', daemon.endpoint, 'exec', '-it', id];
  // The shell prints the size it starts with, waits for a line, then prints the size again. The runtime sizes the
  // container's terminal just after the command starts (containerd's first resize comes even later), hence the sleep.
  const script = 'sleep 0.5; stty size; test -t 0 && echo on-a-tty; read line; stty size; echo "got $line"';
  const session = new TerminalSession(40, 100, [...crictlArgs, 'sh', '-c', script]);
  t.teardown(() => session.kill());
  await session.waitFor('the shell on a terminal', (lines) => lines.some((line) => line.trim() === 'on-a-tty'));
  session.resize(50, 132);
  // Typed once the resize has had time to reach the container's terminal.
  await sleep(500);
  session.type('typed\n');
  t.is(await session.exited, 0, session.output);
  const lines = (await session.screen()).map((line) => line.trim());
  t.true(lines.includes('40 100'), session.output);
  t.true(lines.includes('50 132'), `the resize reached the container's terminal:\n${session.output}`);
  t.true(lines.includes('got typed'), session.output);
});

test('crictl attach reaches the container stdio, detaching leaves it running, and stdin_once closes stdin', async (t) => {
  const daemon = await startDaemon(t, { config: source.daemonConfig() });
  const { id } = await runningContainer(daemon, 'attach', ['sh'], { stdin: true });
  for (const transport of ['spdy', 'websocket']) {
    const attached = await crictlWithInput(daemon, ['attach', '-i', '--transport', transport, id], `echo attached-${transport}-$((6*7))\n`, 1500);
    t.is(attached.code, 0, attached.stderr);
    t.regex(attached.stdout, new RegExp(`attached-${transport}-42`));
  }
  const { status } = await crictlJson<{ status: { state: string } }>(daemon, ['inspect', id]);
  t.is(status.state, 'CONTAINER_RUNNING', 'detaching never stops the container');

  const once_ = await runningContainer(daemon, 'attach-once', ['cat'], { stdin: true, stdin_once: true });
  const echoed = await crictlWithInput(daemon, ['attach', '-i', once_.id], 'only once\n', 1500);
  t.regex(echoed.stdout, /only once/);
  for (let i = 0; i < 50; i++) {
    const { status: after } = await crictlJson<{ status: { state: string } }>(daemon, ['inspect', once_.id]);
    if (after.state === 'CONTAINER_EXITED') break;
    await sleep(100);
  }
  const { status: exited } = await crictlJson<{ status: { state: string; exitCode: number } }>(daemon, ['inspect', once_.id]);
  t.is(exited.state, 'CONTAINER_EXITED', 'with stdin_once the end of the first attach closes stdin, and cat ends');
});

test('crictl attach -it joins the terminal of a tty container, sized to the client', async (t) => {
  const daemon = await startDaemon(t, { config: source.daemonConfig() });
  const { id } = await runningContainer(daemon, 'attach-tty', ['sh'], { stdin: true, tty: true });
  const crictlArgs = [toolFromEnv('CRION_CRICTL'), '--runtime-endpoint', daemon.endpoint, 'attach', '-it', id];
  // Typed after a pause, so the client's size has reached the container's terminal; exit ends the container and the attach.
  const session = new TerminalSession(30, 90, crictlArgs);
  t.teardown(() => session.kill());
  await sleep(1000);
  session.type('stty size; echo tty-$((6*7)); exit\n');
  await session.exited;
  const lines = (await session.screen()).map((line) => line.trim());
  t.true(lines.includes('30 90'), session.output);
  t.true(lines.includes('tty-42'), session.output);
});

test('crictl port-forward carries HTTP requests to a port in the pod, over SPDY and WebSocket', async (t) => {
  const daemon = await startDaemon(t, { config: source.daemonConfig() });
  const { podId } = await runningContainer(daemon, 'forwarded', [
    '/bin/busybox',
    'sh',
    '-c',
    'mkdir -p /www && echo forwarded-page > /www/index.html && exec /bin/busybox httpd -f -p 80 -h /www',
  ]);
  await sleep(300);
  for (const transport of ['spdy', 'websocket']) {
    const forward = await startPortForward(toolFromEnv('CRION_CRICTL'), [
      '--runtime-endpoint',
      daemon.endpoint,
      'port-forward',
      '--transport',
      transport,
      podId,
      '0:80',
    ]);
    t.teardown(() => forward.child.kill());
    for (let attempt = 0; attempt < 3; attempt++) {
      const response = await fetch(`http://127.0.0.1:${forward.localPort}/`);
      t.is((await response.text()).trim(), 'forwarded-page', `${transport}, request ${attempt}`);
    }
    forward.child.kill();
  }
});

function criClient(t: { teardown(fn: () => void): void }, daemon: Daemon) {
  const cri = loadCriPackage();
  const client = new cri.RuntimeService(daemon.endpoint, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  return client;
}

test('Exec, Attach and PortForward check their target and request, with the right status codes', async (t) => {
  const daemon = await startDaemon(t, { config: source.daemonConfig() });
  const { id, podId } = await runningContainer(daemon, 'checks', ['sleep', '3600']);
  const client = criClient(t, daemon);
  const call = <R>(method: 'Exec' | 'Attach' | 'PortForward', request: object) =>
    new Promise<R>((resolve, reject) =>
      (client[method] as unknown as (r: object, cb: (e: grpc.ServiceError | null, v: R) => void) => void).call(client, request, (error, value) =>
        error ? reject(error) : resolve(value),
      ),
    );
  const code = async (promise: Promise<unknown>) =>
    (
      await promise.then(
        () => null,
        (error: grpc.ServiceError) => error,
      )
    )?.code ?? grpc.status.OK;
  t.is(await code(call('Exec', { containerId: 'missing', cmd: ['true'], stdout: true })), grpc.status.NOT_FOUND);
  t.is(await code(call('Exec', { containerId: id, cmd: [], stdout: true })), grpc.status.INVALID_ARGUMENT);
  t.is(await code(call('Exec', { containerId: id, cmd: ['true'] })), grpc.status.INVALID_ARGUMENT);
  t.is(await code(call('Exec', { containerId: id, cmd: ['true'], tty: true, stdout: true, stderr: true })), grpc.status.INVALID_ARGUMENT);
  t.is(await code(call('Attach', { containerId: id, stdin: true, stdout: true })), grpc.status.INVALID_ARGUMENT, 'no stdin to attach to');
  t.is(await code(call('PortForward', { podSandboxId: 'missing', port: [80] })), grpc.status.NOT_FOUND);
  const { url } = await call<{ url: string }>('Exec', { containerId: id, cmd: ['true'], stdout: true });
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]{22}$/);
  const forward = await call<{ url: string }>('PortForward', { podSandboxId: podId, port: [80] });
  t.regex(forward.url, /\/portforward\//);
});

test('a client that stops reading stalls neither the daemon nor other sessions, and its command dies with its connection', async (t) => {
  const daemon = await startDaemon(t, { config: source.daemonConfig() });
  const { id } = await runningContainer(daemon, 'slow-reader', ['sleep', '3600']);
  const client = criClient(t, daemon);
  const { url } = await new Promise<{ url: string }>((resolve, reject) =>
    client.Exec({ containerId: id, cmd: ['sh', '-c', 'echo $$ > /tmp/talker.pid; exec yes flood'], stdout: true }, (error, value) =>
      error ? reject(error) : resolve(value as { url: string }),
    ),
  );
  const ws = new WebSocket(url.replace(/^http/, 'ws'), ['v5.channel.k8s.io']);
  await once(ws, 'open');
  await sleep(500);
  ws.pause();
  await sleep(1500);
  const started = Date.now();
  const other = await crictl(daemon, ['exec', id, 'echo', 'still here']);
  t.is(other.stdout, 'still here\n');
  t.true(Date.now() - started < 20_000);
  const pid = (await crictl(daemon, ['exec', id, 'cat', '/tmp/talker.pid'])).stdout.trim();
  t.regex(pid, /^\d+$/);
  ws.terminate();
  for (let i = 0; i < 50; i++) {
    const alive = await crictl(daemon, ['exec', id, 'sh', '-c', `kill -0 ${pid} 2>/dev/null && echo alive || echo gone`]);
    if (alive.stdout.trim() === 'gone') break;
    await sleep(100);
  }
  const after = await crictl(daemon, ['exec', id, 'sh', '-c', `kill -0 ${pid} 2>/dev/null && echo alive || echo gone`]);
  t.is(after.stdout.trim(), 'gone', 'the exec is killed once its client has gone');
});

async function daemonRssKiB(daemon: Daemon): Promise<number> {
  const status = await readFile(`/proc/${daemon.child.pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]);
}

/** One exec over a WebSocket: `cat` echoes `text` back, and the session ends with a Success status. */
async function echoSession(url: string, text: string): Promise<{ stdout: string; status: string }> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), ['v5.channel.k8s.io']);
  const messages: Buffer[] = [];
  ws.on('message', (data: Buffer) => messages.push(data));
  const closed = once(ws, 'close');
  await once(ws, 'open');
  ws.send(Buffer.concat([Buffer.of(0), Buffer.from(text)]));
  ws.send(Buffer.of(255, 0));
  await closed;
  const on = (channel: number) => Buffer.concat(messages.filter((m) => m[0] === channel).map((m) => m.subarray(1))).toString();
  return { stdout: on(1), status: on(3) };
}

test('100 exec sessions at once all work, and the daemon does not keep what they used', async (t) => {
  t.timeout(300_000);
  const daemon = await startDaemon(t, { config: source.daemonConfig(), logLevel: 'info' });
  const { id } = await runningContainer(daemon, 'hundred', ['sleep', '3600']);
  const client = criClient(t, daemon);
  const execUrl = () =>
    new Promise<string>((resolve, reject) =>
      client.Exec({ containerId: id, cmd: ['cat'], stdin: true, stdout: true }, (error, value) => (error ? reject(error) : resolve(value!.url))),
    );
  const round = async (size: number) => {
    const urls = await Promise.all(Array.from({ length: size }, () => execUrl()));
    return Promise.all(urls.map((url, index) => echoSession(url, `session-${index}`)));
  };
  // Warm-up rounds let the heap grow to what such a load needs (V8 collects lazily); a leak shows after that.
  for (let pass = 0; pass < 3; pass++) await round(100);
  await sleep(2000);
  const baseline = await daemonRssKiB(daemon);
  for (let pass = 0; pass < 3; pass++) {
    const results = await round(100);
    results.forEach((result, index) => {
      t.is(result.stdout, `session-${index}`);
      t.deepEqual(JSON.parse(result.status), { status: 'Success' });
    });
  }
  await sleep(2000);
  const after = await daemonRssKiB(daemon);
  t.log(`daemon RSS: ${baseline} KiB after 300 sessions, ${after} KiB after 300 more`);
  t.true(after - baseline < 16 * 1024, `the daemon grew by ${after - baseline} KiB over 300 more sessions`);
  const leftovers = await crictl(daemon, ['exec', id, 'sh', '-c', 'ps -o comm= | grep -c "^cat$" || true']);
  t.is(leftovers.stdout.trim(), '0', 'every exec ended with its session');
});
