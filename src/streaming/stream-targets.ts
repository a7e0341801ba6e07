import { once } from 'node:events';
import { connect as connectTcp } from 'node:net';
import { PassThrough, Writable, type Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerManager } from '../container/container-manager.js';
import type { ExecSession } from '../container/exec-session.js';
import type { AttachOutput, MonitorAttachment } from '../container/monitor-attach.js';
import { FailedPreconditionError } from '../errors.js';
import type { SandboxManager } from '../sandbox/sandbox-manager.js';
import type { StreamTargets } from './stream-server.js';
import type { StreamedProcess } from './streamed-process.js';

export interface StreamTargetDeps {
  readonly containers: Pick<ContainerManager, 'startExec' | 'attach'>;
  readonly sandboxes: Pick<SandboxManager, 'require'>;
  /** A TCP connection to 127.0.0.1:`port` opened inside the network namespace pinned at `netns`. */
  readonly connectInNetns: (netns: string, port: number) => Promise<Duplex>;
}

/** The streaming server's view of containers and pods. */
export function streamTargets(deps: StreamTargetDeps): StreamTargets {
  return {
    async exec(request) {
      const session = await deps.containers.startExec(request.containerId, request.command, { tty: request.tty, stdin: request.stdin });
      return execProcess(session);
    },

    async attach(request) {
      const { attachment, stdinOnce } = await deps.containers.attach(request.containerId);
      return attachProcess(attachment, stdinOnce, request.stdin);
    },

    portForward(podSandboxId) {
      return async (port) => {
        const sandbox = deps.sandboxes.require(podSandboxId);
        if (sandbox.state !== 'SANDBOX_READY') throw new FailedPreconditionError(`pod sandbox ${sandbox.id} is not ready`);
        // A host-network pod listens in the node's own namespace.
        if (sandbox.namespaces.net === null) return connectOnHost(port);
        return deps.connectInNetns(sandbox.namespaces.net, port);
      };
    },
  };
}

function execProcess(session: ExecSession): StreamedProcess {
  return {
    stdin: session.stdin,
    stdout: session.stdout,
    stderr: session.stderr,
    resize: (size) => session.resize({ rows: size.height, cols: size.width }),
    outcome: session.exited.then((exitCode) => ({ exitCode })),
    stop: () => session.kill(),
    endsWithStdin: false,
  };
}

function connectOnHost(port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * An attach session as the streaming server runs it. The monitor's frames
 * are split into stdout and stderr at the pace the client reads them (the
 * monitor drops what a slow session cannot take, never the container).
 * The session ends when the container exits, or when the client's stdin
 * ends; with `stdin_once` that end first closes the container's stdin.
 */
function attachProcess(attachment: MonitorAttachment, stdinOnce: boolean, withStdin: boolean): StreamedProcess {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const outputDone = (async () => {
    for await (const { stream, data } of attachment.output as AsyncIterable<AttachOutput>) {
      const target = stream === 'stdout' ? stdout : stderr;
      if (!target.write(data)) await once(target, 'drain');
    }
  })()
    .catch(() => undefined)
    .finally(() => {
      stdout.end();
      stderr.end();
    });
  const stdin = withStdin
    ? new Writable({
        write(chunk: Buffer, _encoding, done) {
          try {
            if (attachment.writeStdin(chunk)) done();
            else attachment.once('drain', () => done());
          } catch (error) {
            done(error as Error);
          }
        },
        final(done) {
          try {
            if (stdinOnce) attachment.closeStdin();
          } catch {
            // The container is gone; there is no stdin left to close.
          }
          done();
        },
      })
    : null;
  return {
    stdin,
    stdout,
    stderr,
    resize: (size) => {
      try {
        attachment.resize(size.height, size.width);
      } catch {
        // A resize racing the container's exit changes nothing.
      }
    },
    outcome: outputDone.then(() => ({ exitCode: 0 })),
    async stop() {
      // The close of stdin must reach the monitor before the connection goes.
      if (stdin !== null && !stdin.writableFinished) await Promise.race([once(stdin, 'finish'), sleep(1000)]);
      attachment.detach();
    },
    endsWithStdin: true,
  };
}
