import * as grpc from '@grpc/grpc-js';
import { loadCriPackage } from './proto.js';
import { connectError, socketPathOf } from './unix-socket.js';
import type { Image__Output } from '../generated/runtime/v1/Image.js';
import type { ImageFsInfoResponse__Output } from '../generated/runtime/v1/ImageFsInfoResponse.js';
import type { ImageStatusResponse__Output } from '../generated/runtime/v1/ImageStatusResponse.js';
import type { ImageServiceClient } from '../generated/runtime/v1/ImageService.js';
import type { ListContainersResponse__Output } from '../generated/runtime/v1/ListContainersResponse.js';
import type { ListContainerStatsResponse__Output } from '../generated/runtime/v1/ListContainerStatsResponse.js';
import type { ListImagesResponse__Output } from '../generated/runtime/v1/ListImagesResponse.js';
import type { ListPodSandboxResponse__Output } from '../generated/runtime/v1/ListPodSandboxResponse.js';
import type { PullImageResponse__Output } from '../generated/runtime/v1/PullImageResponse.js';
import type { RemoveImageResponse__Output } from '../generated/runtime/v1/RemoveImageResponse.js';
import type { RuntimeServiceClient } from '../generated/runtime/v1/RuntimeService.js';
import type { StatusResponse__Output } from '../generated/runtime/v1/StatusResponse.js';

/**
 * Small CRI clients for crion's own CLI: the operator commands talk to the
 * running daemon exactly as the kubelet does.
 *
 * As crictl does (its client validates the connection before the first
 * call), they connect before calling, so a failure is blamed on the right
 * party: one to connect is "cannot reach the daemon", and every status after
 * that is the daemon's answer, even UNAVAILABLE, which the daemon itself
 * sends when a registry cannot be reached.
 */
export class CriImageClient {
  private constructor(
    private readonly client: ImageServiceClient,
    readonly endpoint: string,
  ) {}

  /** `endpoint` is a `unix://` URL as `unixEndpoint` gives it. Throws DaemonUnreachableError. */
  static async connect(endpoint: string, timeoutMs = CONNECT_TIMEOUT_MS): Promise<CriImageClient> {
    const client = new (loadCriPackage().ImageService)(endpoint, grpc.credentials.createInsecure());
    await connected(client, endpoint, timeoutMs);
    return new CriImageClient(client, endpoint);
  }

  close(): void {
    this.client.close();
  }

  async pull(image: string): Promise<string> {
    const response = await this.call<PullImageResponse__Output>(`pull of ${image}`, (done) => this.client.PullImage({ image: { image } }, done));
    return response.imageRef;
  }

  async list(): Promise<Image__Output[]> {
    return (await this.call<ListImagesResponse__Output>('listing images', (done) => this.client.ListImages({}, done))).images;
  }

  /** The image the daemon resolves `image` to, or null when it has none by that name. */
  async status(image: string): Promise<Image__Output | null> {
    const response = await this.call<ImageStatusResponse__Output>(`status of ${image}`, (done) =>
      this.client.ImageStatus({ image: { image } }, done),
    );
    return response.image;
  }

  async remove(image: string): Promise<void> {
    await this.call<RemoveImageResponse__Output>(`removal of ${image}`, (done) => this.client.RemoveImage({ image: { image } }, done));
  }

  async fsInfo(): Promise<ImageFsInfoResponse__Output> {
    return this.call<ImageFsInfoResponse__Output>('image filesystem info', (done) => this.client.ImageFsInfo({}, done));
  }

  private call<Response>(operation: string, invoke: (done: grpc.requestCallback<Response>) => void): Promise<Response> {
    return callDaemon(this.endpoint, operation, invoke);
  }
}

/**
 * What a caller may bound a call by. One that polls (`crion top`) passes a
 * deadline, so a hung daemon becomes a failed call it can show rather than
 * a wait without end.
 */
export interface CallLimits {
  readonly deadline?: Date;
}

/** The RuntimeService calls the CLI makes: readiness and what the node runs. */
export class CriRuntimeClient {
  private constructor(
    private readonly client: RuntimeServiceClient,
    readonly endpoint: string,
  ) {}

  /** `endpoint` is a `unix://` URL as `unixEndpoint` gives it. Throws DaemonUnreachableError. */
  static async connect(endpoint: string, timeoutMs = CONNECT_TIMEOUT_MS): Promise<CriRuntimeClient> {
    const client = new (loadCriPackage().RuntimeService)(endpoint, grpc.credentials.createInsecure());
    await connected(client, endpoint, timeoutMs);
    return new CriRuntimeClient(client, endpoint);
  }

  close(): void {
    this.client.close();
  }

  async status(): Promise<StatusResponse__Output> {
    return this.call<StatusResponse__Output>('status', (done) => this.client.Status({}, done));
  }

  async listPods(limits: CallLimits = {}): Promise<ListPodSandboxResponse__Output['items']> {
    return (await this.call<ListPodSandboxResponse__Output>('listing pods', (done) => this.client.ListPodSandbox({}, limits, done))).items;
  }

  async listContainers(limits: CallLimits = {}): Promise<ListContainersResponse__Output['containers']> {
    return (await this.call<ListContainersResponse__Output>('listing containers', (done) => this.client.ListContainers({}, limits, done))).containers;
  }

  async listContainerStats(limits: CallLimits = {}): Promise<ListContainerStatsResponse__Output['stats']> {
    return (
      await this.call<ListContainerStatsResponse__Output>('listing container stats', (done) => this.client.ListContainerStats({}, limits, done))
    ).stats;
  }

  private call<Response>(operation: string, invoke: (done: grpc.requestCallback<Response>) => void): Promise<Response> {
    return callDaemon(this.endpoint, operation, invoke);
  }
}

/** Waits for the first connection of a new client; closes it and throws DaemonUnreachableError when there is none. */
async function connected(client: grpc.Client, endpoint: string, timeoutMs: number): Promise<void> {
  const outcome = await firstConnection(client.getChannel(), Date.now() + timeoutMs);
  if (outcome === 'ready') return;
  client.close();
  throw new DaemonUnreachableError(endpoint, await whyUnreachable(socketPathOf(endpoint), outcome, timeoutMs));
}

/**
 * Connected means the daemon was reached, so whatever status comes back is
 * reported as its answer; a call cut off by the daemon dying says so in
 * grpc-js's details ("Connection dropped").
 */
function callDaemon<Response>(endpoint: string, operation: string, invoke: (done: grpc.requestCallback<Response>) => void): Promise<Response> {
  return new Promise((resolve, reject) =>
    invoke((error, response) =>
      error ? reject(new DaemonCallError(endpoint, operation, grpc.status[error.code], error.details, { cause: error })) : resolve(response!),
    ),
  );
}

/** Long enough for a daemon busy starting pods to accept; short enough that a hung one is reported while the operator waits. */
const CONNECT_TIMEOUT_MS = 5_000;

/** The daemon could not be reached, so nothing it said is there to report. */
export class DaemonUnreachableError extends Error {
  override name = 'DaemonUnreachableError';

  constructor(
    readonly endpoint: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot reach the crion daemon at ${endpoint}: ${reason}`, options);
  }
}

/** The daemon answered a call with an error status; `code` is its name (NOT_FOUND, UNAVAILABLE…). */
export class DaemonCallError extends Error {
  override name = 'DaemonCallError';

  constructor(
    readonly endpoint: string,
    readonly operation: string,
    readonly code: string,
    readonly details: string,
    options?: { cause?: unknown },
  ) {
    super(`crion daemon at ${endpoint}: ${operation} failed: ${details}`, options);
  }
}

type FirstConnection = 'ready' | 'failed' | 'timed-out';

/**
 * Follows the channel through its first attempt only. grpc-js's own
 * waitForReady would retry with backoff until the deadline, making an
 * operator wait seconds to learn that there is no socket.
 */
function firstConnection(channel: ReturnType<grpc.Client['getChannel']>, deadline: number): Promise<FirstConnection> {
  return new Promise((resolve) => {
    const follow = (): void => {
      const state = channel.getConnectivityState(true);
      if (state === grpc.connectivityState.READY) return resolve('ready');
      if (state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.SHUTDOWN) {
        return resolve('failed');
      }
      channel.watchConnectivityState(state, deadline, (error) => (error ? resolve('timed-out') : follow()));
    };
    follow();
  });
}

/**
 * grpc-js keeps the connect error to itself, inside a details string; the
 * kernel gives it again to a plain connect on the same socket.
 */
async function whyUnreachable(socketPath: string, outcome: 'failed' | 'timed-out', timeoutMs: number): Promise<string> {
  const refusal = await connectError(socketPath);
  if (refusal !== null) return unreachableReason(refusal);
  return outcome === 'timed-out'
    ? `the socket accepts connections but gave no gRPC answer within ${timeoutMs / 1000} s; is the daemon stopped or hung?`
    : 'the socket accepts connections but does not answer as a gRPC server';
}

const UNREACHABLE_REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no socket there (ENOENT); is the daemon running?',
  ECONNREFUSED: 'nothing accepts connections on the socket (ECONNREFUSED); the daemon has exited, or has not started serving yet',
  EACCES: 'permission denied (EACCES); the socket is open to its owner and group only: run as root or as a member of its group',
};

/** The kernel's reason a connect to the daemon's socket failed, as a sentence for the operator. */
export function unreachableReason(error: NodeJS.ErrnoException): string {
  return (error.code !== undefined ? UNREACHABLE_REASONS[error.code] : undefined) ?? error.message;
}
