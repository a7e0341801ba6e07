import * as grpc from '@grpc/grpc-js';
import { loadCriPackage } from './proto.js';
import type { Image__Output } from '../generated/runtime/v1/Image.js';
import type { ImageServiceClient } from '../generated/runtime/v1/ImageService.js';

/**
 * A small CRI ImageService client for crion's own CLI: the operator commands
 * talk to the running daemon exactly as the kubelet does.
 */
export class CriImageClient {
  private readonly client: ImageServiceClient;

  constructor(listen: string) {
    const cri = loadCriPackage();
    this.client = new cri.ImageService(listen, grpc.credentials.createInsecure());
  }

  close(): void {
    this.client.close();
  }

  pull(image: string): Promise<string> {
    return new Promise((resolve, reject) =>
      this.client.PullImage({ image: { image } }, (error, response) =>
        error ? reject(describe(error)) : resolve(response!.imageRef),
      ),
    );
  }

  list(): Promise<Image__Output[]> {
    return new Promise((resolve, reject) =>
      this.client.ListImages({}, (error, response) => (error ? reject(describe(error)) : resolve(response!.images))),
    );
  }

  remove(image: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.client.RemoveImage({ image: { image } }, (error) => (error ? reject(describe(error)) : resolve())),
    );
  }
}

/** The operator sees the daemon's own message, not grpc-js's "13 INTERNAL: …" prefix. */
function describe(error: grpc.ServiceError): Error {
  const message =
    error.code === grpc.status.UNAVAILABLE ? `cannot reach the crion daemon: ${error.details}` : error.details;
  return new Error(message, { cause: error });
}
