import * as grpc from '@grpc/grpc-js';
import { chmod, rm } from 'node:fs/promises';
import type { Logger } from '../log/logger.js';
import type { ImageServiceHandlers } from '../generated/runtime/v1/ImageService.js';
import type { RuntimeServiceHandlers } from '../generated/runtime/v1/RuntimeService.js';
import { CRI_PACKAGE, loadCriDefinition, loadCriPackage } from './proto.js';
import { RequestChecks } from './request-checks.js';
import { NO_RPC_OBSERVER, type RpcObserver } from './rpc.js';
import { serviceHandlers, type ServiceRpcs } from './services.js';
import { claimUnixSocket, socketPathOf } from './unix-socket.js';

/** The CRI limit that the kubelet's client uses too. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Owner and group may talk to the runtime; everybody else may not. */
const SOCKET_MODE = 0o660;

export interface CriServerOptions {
  readonly listen: string;
  readonly log: Logger;
  readonly runtime: ServiceRpcs<RuntimeServiceHandlers>;
  readonly image: ServiceRpcs<ImageServiceHandlers>;
  /** Told of every call's outcome; NO_RPC_OBSERVER by default. */
  readonly observer?: RpcObserver;
}

/** The gRPC server: RuntimeService and ImageService on one unix socket, as the kubelet expects by default. */
export class CriServer {
  private constructor(
    private readonly server: grpc.Server,
    readonly socketPath: string,
  ) {}

  static async start(options: CriServerOptions): Promise<CriServer> {
    const definition = loadCriDefinition();
    const cri = loadCriPackage(definition);
    const checks = new RequestChecks(definition, CRI_PACKAGE);
    const observer = options.observer ?? NO_RPC_OBSERVER;
    const server = new grpc.Server({
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      // crion serves no channelz service, so nothing reads the counters and trace events grpc-js keeps per call and connection.
      'grpc.enable_channelz': 0,
    });
    server.addService(
      cri.RuntimeService.service,
      serviceHandlers<RuntimeServiceHandlers>(cri.RuntimeService.service, options.runtime, options.log, checks, observer),
    );
    server.addService(
      cri.ImageService.service,
      serviceHandlers<ImageServiceHandlers>(cri.ImageService.service, options.image, options.log, checks, observer),
    );

    const socketPath = socketPathOf(options.listen);
    await claimUnixSocket(socketPath);
    // The umask closes the window between bind and chmod in which the socket would be world-accessible.
    const previousUmask = process.umask(0o117);
    try {
      await new Promise<number>((resolve, reject) =>
        server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))),
      );
    } finally {
      process.umask(previousUmask);
    }
    await chmod(socketPath, SOCKET_MODE);
    return new CriServer(server, socketPath);
  }

  /**
   * Stops taking calls, lets in-flight ones finish for up to `graceMs`, then
   * cuts what is left, and removes the socket so the next start finds none.
   */
  async shutdown(graceMs: number): Promise<'graceful' | 'forced'> {
    const outcome = await new Promise<'graceful' | 'forced'>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve('forced');
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve('graceful');
      });
    });
    await rm(this.socketPath, { force: true });
    return outcome;
  }
}
