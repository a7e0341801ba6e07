import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { InvalidArgumentError } from '../errors.js';

/**
 * Content digests as registries and image configs write them. crion verifies
 * sha256 only: it is what every registry and builder produces, and accepting
 * an algorithm we cannot check would let content through unverified. Also
 * offers a pass-through stream that digests and counts what flows through
 * it, so a download or an unpack verifies without a second read.
 */

/** `sha256:` followed by 64 lowercase hex digits, as parseDigest and digestOf return it. */
export type Digest = `sha256:${string}`;

const SHA256 = /^sha256:[a-f0-9]{64}$/;
const ANY_ALGORITHM = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** Why `text` is not a digest crion accepts, or null when it is one. */
export function digestProblem(text: string): string | null {
  if (SHA256.test(text)) return null;
  if (!ANY_ALGORITHM.test(text)) return 'expected "sha256:" followed by 64 hex digits';
  const algorithm = text.slice(0, text.indexOf(':'));
  if (algorithm !== 'sha256') return `digest algorithm "${algorithm}" is not supported; crion verifies sha256 only`;
  return 'a sha256 digest has exactly 64 lowercase hex digits';
}

export function isDigest(text: string): text is Digest {
  return SHA256.test(text);
}

export function parseDigest(text: string): Digest {
  const problem = digestProblem(text);
  if (problem !== null) throw new InvalidArgumentError(`invalid digest "${text}": ${problem}`);
  return text as Digest;
}

export function digestOf(data: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The hex part, e.g. for a file name. */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

/**
 * Content that does not match the descriptor that named it: a corrupt
 * transfer, a broken mirror or tampering. The message names the subject and
 * both values so the operator can tell which.
 */
export class ContentMismatchError extends InvalidArgumentError {}

/** Passes bytes through unchanged while hashing and counting them. */
export class DigestingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private count = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.count += chunk.length;
    callback(null, chunk);
  }

  get bytes(): number {
    return this.count;
  }

  /** Only once the stream has ended; the hash cannot be read twice. */
  digest(): Digest {
    return `sha256:${this.hash.digest('hex')}`;
  }
}
