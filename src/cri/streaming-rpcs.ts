import { FailedPreconditionError, InvalidArgumentError } from '../errors.js';
import type { RuntimeServiceHandlers } from '../generated/runtime/v1/RuntimeService.js';
import type { ContainerManager } from '../container/container-manager.js';
import type { SandboxManager } from '../sandbox/sandbox-manager.js';
import type { StreamRequest } from '../streaming/stream-requests.js';
import type { ServiceRpcs } from './services.js';

export interface StreamingRpcDeps {
  readonly containers: Pick<ContainerManager, 'requireRunning'>;
  readonly sandboxes: Pick<SandboxManager, 'require'>;
  /** The one-time URL of the streaming server for the request. */
  readonly urlFor: (request: StreamRequest) => string;
}

interface StdioChoice {
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
  readonly tty: boolean;
}

/** CRI: one of stdin, stdout and stderr must be streamed, and a terminal has no separate stderr. */
function checkStdio(rpc: string, choice: StdioChoice): void {
  if (!choice.stdin && !choice.stdout && !choice.stderr) throw new InvalidArgumentError(`${rpc}: one of stdin, stdout and stderr must be true`);
  if (choice.tty && choice.stderr) throw new InvalidArgumentError(`${rpc}: tty and stderr cannot both be true; a terminal merges stderr into stdout`);
}

/**
 * Exec, Attach and PortForward: each checks its target now, so a client
 * learns of a missing or stopped container from the RPC, and returns the
 * URL where the streaming server serves the session.
 */
export function streamingRpcs(deps: StreamingRpcDeps): ServiceRpcs<RuntimeServiceHandlers> {
  const { containers, sandboxes, urlFor } = deps;
  return {
    async Exec(request) {
      if (request.cmd.length === 0) throw new InvalidArgumentError('Exec needs a command');
      checkStdio('Exec', request);
      const container = containers.requireRunning(request.containerId);
      const { tty, stdin, stdout, stderr } = request;
      return { url: urlFor({ kind: 'exec', containerId: container.id, command: request.cmd, tty, stdin, stdout, stderr }) };
    },

    /** The container's own terminal setting decides, as in containerd: the request's `tty` only describes it. */
    async Attach(request) {
      const container = containers.requireRunning(request.containerId);
      const tty = container.config.tty;
      checkStdio('Attach', { ...request, tty });
      if (request.stdin && !container.config.stdin) {
        throw new InvalidArgumentError(`Attach: container ${container.id} was created without stdin, so there is none to attach to`);
      }
      const { stdin, stdout, stderr } = request;
      return { url: urlFor({ kind: 'attach', containerId: container.id, tty, stdin, stdout, stderr }) };
    },

    async PortForward(request) {
      const sandbox = sandboxes.require(request.podSandboxId);
      if (sandbox.state !== 'SANDBOX_READY') throw new FailedPreconditionError(`pod sandbox ${sandbox.id} is not ready`);
      for (const port of request.port) {
        if (port < 1 || port > 65535) throw new InvalidArgumentError(`PortForward: port ${port} is not between 1 and 65535`);
      }
      return { url: urlFor({ kind: 'port-forward', podSandboxId: sandbox.id, ports: [...request.port] }) };
    },
  };
}
