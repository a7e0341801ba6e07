import { randomBytes } from 'node:crypto';

/** What an Exec, Attach or PortForward call asked for, kept until its client comes for it. */
export type StreamRequest =
  | {
      readonly kind: 'exec';
      readonly containerId: string;
      readonly command: readonly string[];
      readonly tty: boolean;
      readonly stdin: boolean;
      readonly stdout: boolean;
      readonly stderr: boolean;
    }
  | {
      readonly kind: 'attach';
      readonly containerId: string;
      readonly tty: boolean;
      readonly stdin: boolean;
      readonly stdout: boolean;
      readonly stderr: boolean;
    }
  | {
      readonly kind: 'port-forward';
      readonly podSandboxId: string;
      /**
       * The PortForward call's ports. A WebSocket session forwards these: the kubelet proxies its client's upgrade to
       * the bare URL, without the client's `?port=`, as Kubernetes' own streaming server takes them from the call too.
       */
      readonly ports: readonly number[];
    };

export type StreamKind = StreamRequest['kind'];

/**
 * The requests whose URLs are out, keyed by a token that only the caller
 * of the RPC has seen. A token works once and for `ttlMs`: the kubelet
 * hands the URL to its client at once, so a late or second use is a
 * replay. The cap keeps a caller who asks and never comes from growing the
 * map without bound; the oldest pending request gives way.
 */
export class StreamRequests {
  private readonly pending = new Map<string, { request: StreamRequest; expiresAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxPending = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Returns the token of the new request. */
  add(request: StreamRequest): string {
    this.dropExpired();
    if (this.pending.size >= this.maxPending) {
      const oldest = this.pending.keys().next();
      if (!oldest.done) this.pending.delete(oldest.value);
    }
    // 128 bits: the URL is the only credential the streaming server asks for.
    const token = randomBytes(16).toString('base64url');
    this.pending.set(token, { request, expiresAt: this.now() + this.ttlMs });
    return token;
  }

  /** The request behind `token` if it is known, unused and unexpired, for `kind`; it is spent either way. */
  take(token: string, kind: StreamKind): StreamRequest | null {
    const entry = this.pending.get(token);
    if (entry === undefined) return null;
    this.pending.delete(token);
    if (entry.expiresAt <= this.now() || entry.request.kind !== kind) return null;
    return entry.request;
  }

  get size(): number {
    this.dropExpired();
    return this.pending.size;
  }

  /** Insertion order is expiry order, since every entry lives equally long. */
  private dropExpired(): void {
    const now = this.now();
    for (const [token, entry] of this.pending) {
      if (entry.expiresAt > now) break;
      this.pending.delete(token);
    }
  }
}
