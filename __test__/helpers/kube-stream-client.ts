import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';

/**
 * A WebSocket client of the Kubernetes channel protocols, as kubectl speaks
 * them to a kubelet's `/exec`, `/attach` and `/portForward`: every binary
 * message starts with its channel byte; v5 adds `[255, channel]` to close a
 * channel. It keeps each channel's bytes so a test can wait for what it
 * expects and then compare the whole output.
 */

/** How a refused upgrade ended: the HTTP status and body, which say why. */
export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`upgrade refused with ${status}: ${body.trim()}`);
    this.name = 'UpgradeRefused';
  }
}

export interface ClosedSocket {
  code: number;
  reason: string;
}

const CLOSE_SIGNAL = 255;

export class KubeStreamClient {
  private readonly received = new Map<number, Buffer[]>();
  private readonly waiters = new Set<() => void>();
  /** Resolves when the socket closes, from either side. */
  readonly closed: Promise<ClosedSocket>;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const message = isBinary ? data : Buffer.from(data);
      if (message.length === 0) return;
      const channel = message[0]!;
      const chunks = this.received.get(channel) ?? [];
      chunks.push(message.subarray(1));
      this.received.set(channel, chunks);
      this.wake();
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.wake();
      }),
    );
  }

  /**
   * Opens `url` offering `protocols`; rejects with UpgradeRefused when the
   * server answers the upgrade with a plain HTTP response. `insecure`: the
   * kubelet serves with a certificate it made for itself.
   */
  static open(url: string, protocols: readonly string[], { insecure = true, timeoutMs = 15_000 } = {}): Promise<KubeStreamClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, [...protocols], { rejectUnauthorized: !insecure, handshakeTimeout: timeoutMs });
      ws.once('unexpected-response', (_request, response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        response.on('end', () => reject(new UpgradeRefused(response.statusCode ?? 0, body)));
        response.on('error', reject);
      });
      ws.once('open', () => resolve(new KubeStreamClient(ws)));
      ws.once('error', reject);
    });
  }

  /** The subprotocol the server chose. */
  get protocol(): string {
    return this.ws.protocol;
  }

  /** Everything received on `channel` so far, without the channel bytes. */
  output(channel: number): Buffer {
    return Buffer.concat(this.received.get(channel) ?? []);
  }

  /** The first message on `channel`, whole: port forward opens each channel with the port. */
  firstMessage(channel: number): Buffer | null {
    return this.received.get(channel)?.[0] ?? null;
  }

  send(channel: number, data: string | Buffer): void {
    this.ws.send(Buffer.concat([Buffer.of(channel), Buffer.from(data)]));
  }

  /** v5's close signal: no more data on `channel` (stdin's EOF). */
  closeChannel(channel: number): void {
    this.ws.send(Buffer.of(CLOSE_SIGNAL, channel));
  }

  /** Waits until `done` holds for what has arrived, or the socket closes, or time runs out; says which in the error. */
  async waitFor(what: string, done: () => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let isClosed = false;
    void this.closed.then(() => (isClosed = true));
    while (!done()) {
      if (isClosed) throw new Error(`the socket closed before ${what}; ${this.describe()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`waited ${timeoutMs} ms for ${what}; ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          resolve();
        };
        this.waiters.add(wake);
        void sleep(Math.min(left, 500)).then(wake);
      });
    }
  }

  /** Waits for the server to close the socket, as it does once a command's status is out. */
  async waitClosed(timeoutMs = 15_000): Promise<ClosedSocket> {
    const closed = await Promise.race([this.closed, sleep(timeoutMs, null)]);
    if (closed === null) throw new Error(`the server kept the socket open for ${timeoutMs} ms; ${this.describe()}`);
    return closed;
  }

  close(): Promise<ClosedSocket> {
    this.ws.close(1000);
    return this.closed;
  }

  /** Each channel's bytes so far, for failure messages. */
  describe(): string {
    const channels = [...this.received.keys()].sort().map((channel) => `${channel}: ${JSON.stringify(this.output(channel).toString('latin1'))}`);
    return `received {${channels.join(', ')}}`;
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
