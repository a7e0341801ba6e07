/**
 * SPDY/3 name/value header blocks (draft-mbelshe-httpbis-spdy-00 §2.6.10): a 32-bit pair
 * count, then per pair a 32-bit name length, the name, a 32-bit value length, the value;
 * names are lowercase and unique, several values of one name are joined with NUL. Blocks
 * travel zlib-compressed with a preset dictionary, and the zlib stream runs across every
 * frame of a connection in each direction, so each session owns one inflater and one
 * deflater and must feed them every block in wire order, even blocks of refused streams.
 */
import zlib from 'node:zlib';
import { GoAwayStatus, SpdyProtocolError } from './frames.js';

/**
 * The SPDY/3 compression dictionary, §2.6.10.1 of the spec: each of these words preceded by
 * its length as a 32-bit big-endian integer, followed by the trailing text below verbatim.
 * Both ends must use the same bytes or the first header block fails to inflate.
 */
// prettier-ignore
const DICTIONARY_WORDS = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding', 'accept-language',
  'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection', 'content-base', 'content-encoding',
  'content-language', 'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date', 'etag',
  'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since',
  'last-modified', 'location', 'max-forwards', 'pragma', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer',
  'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via', 'warning',
  'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url', 'public', 'set-cookie', 'keep-alive',
  'origin',
];
const DICTIONARY_TAIL =
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized' +
  '403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable' +
  'Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT' +
  'chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,public' +
  'privatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

export const SPDY3_DICTIONARY: Buffer = Buffer.concat([
  ...DICTIONARY_WORDS.flatMap((word) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(word.length);
    return [length, Buffer.from(word, 'latin1')];
  }),
  Buffer.from(DICTIONARY_TAIL, 'latin1'),
]);

/** Header names and values as they travel: lowercase names, NUL-joined multiple values. */
export type HeaderList = Iterable<readonly [string, string]>;

export interface HeaderLimits {
  /** Largest inflated block; a compressed block can expand a thousandfold. */
  maxBlockSize: number;
  maxPairs: number;
}

export const DEFAULT_HEADER_LIMITS: HeaderLimits = { maxBlockSize: 256 * 1024, maxPairs: 1000 };

function headerError(message: string): SpdyProtocolError {
  return new SpdyProtocolError(message, 'session', GoAwayStatus.ProtocolError);
}

/** The uncompressed block. Throws `TypeError` for a name that is empty, not lowercase or repeated. */
export function encodeHeaderBlock(headers: HeaderList): Buffer {
  const parts: Buffer[] = [Buffer.alloc(4)];
  const seen = new Set<string>();
  for (const [name, value] of headers) {
    if (name.length === 0 || name !== name.toLowerCase())
      throw new TypeError(`SPDY header names must be non-empty lowercase, got ${JSON.stringify(name)}`);
    if (seen.has(name)) throw new TypeError(`SPDY header ${name} appears twice: join its values with NUL instead`);
    seen.add(name);
    for (const text of [name, value]) {
      const bytes = Buffer.from(text, 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32BE(bytes.length);
      parts.push(length, bytes);
    }
  }
  parts[0]!.writeUInt32BE(seen.size);
  return Buffer.concat(parts);
}

/** The pairs of an uncompressed block, or the reason it is malformed (a session error per spec). */
export function decodeHeaderBlock(block: Buffer, limits: HeaderLimits = DEFAULT_HEADER_LIMITS): Map<string, string> | SpdyProtocolError {
  if (block.length < 4) return headerError('header block is shorter than its pair count');
  const count = block.readUInt32BE(0);
  // Each pair takes at least 8 bytes, so a count beyond that is a lie, whatever the limit.
  if (count > limits.maxPairs || count * 8 > block.length - 4) return headerError(`header block declares ${count} pairs in ${block.length} bytes`);
  const headers = new Map<string, string>();
  let at = 4;
  const field = (what: string): string | SpdyProtocolError => {
    if (at + 4 > block.length) return headerError(`header block ends inside a ${what} length`);
    const length = block.readUInt32BE(at);
    at += 4;
    if (length > block.length - at) return headerError(`header ${what} of ${length} bytes overruns its block`);
    const text = block.toString('utf8', at, at + length);
    at += length;
    return text;
  };
  for (let i = 0; i < count; i++) {
    const name = field('name');
    if (name instanceof SpdyProtocolError) return name;
    const value = field('value');
    if (value instanceof SpdyProtocolError) return value;
    if (name.length === 0) return headerError('header block has an empty name');
    if (name !== name.toLowerCase()) return headerError(`header name ${JSON.stringify(name)} is not lowercase`);
    if (headers.has(name)) return headerError(`header ${name} appears twice in one block`);
    headers.set(name, value);
  }
  if (at !== block.length) return headerError(`header block has ${block.length - at} bytes after its last pair`);
  return headers;
}

/**
 * node:zlib keeps a context across calls only as an asynchronous stream (its `_processChunk`
 * closes the context after one synchronous call), and asynchronous inflation would let frames
 * overtake the header block before them. A zlib stream can be continued synchronously all the
 * same: DEFLATE back-references reach at most 32 KiB back, so a fresh raw context primed with
 * the last 32 KiB of everything the stream has produced so far (the SPDY dictionary first)
 * decodes, or encodes, the next sync-flushed block exactly as the long-lived context would.
 * The zlib header (with the dictionary's Adler-32) opens the first block only; no trailer is
 * ever sent because the stream never ends.
 */
const WINDOW = 32 * 1024;

function adler32(data: Buffer): number {
  let a = 1;
  let b = 0;
  for (const byte of data) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

const DICTIONARY_ID = adler32(SPDY3_DICTIONARY);

/** CMF 0x78 (deflate, 32 KiB window), FLG with FDICT and the check bits, then the dictionary's ID. */
function zlibHeader(): Buffer {
  const header = Buffer.alloc(6);
  header[0] = 0x78;
  const flags = 0x20 | (2 << 6); // FDICT, default level
  header[1] = flags + (31 - ((0x78 * 256 + flags) % 31));
  header.writeUInt32BE(DICTIONARY_ID, 2);
  return header;
}

/** The last 32 KiB a zlib stream has produced, which is all its next block can refer to. */
class History {
  private window: Buffer = SPDY3_DICTIONARY;

  get(): Buffer {
    return this.window;
  }

  append(output: Buffer): void {
    const joined = Buffer.concat([this.window, output]);
    this.window = joined.length > WINDOW ? Buffer.from(joined.subarray(joined.length - WINDOW)) : joined;
  }
}

/** The receiving half: one per connection, fed every received header block in order. */
export class HeaderDecompressor {
  private readonly history = new History();
  private started = false;
  private broken = false;

  constructor(private readonly limits: HeaderLimits = DEFAULT_HEADER_LIMITS) {}

  decompress(compressed: Buffer): Map<string, string> | SpdyProtocolError {
    if (this.broken) return headerError('header compression context is broken by an earlier block');
    let raw = compressed;
    if (!this.started) {
      const problem = checkZlibHeader(compressed);
      if (problem !== null) {
        this.broken = true;
        return headerError(problem);
      }
      raw = compressed.subarray(6);
      this.started = true;
    }
    let block: Buffer;
    try {
      block = zlib.inflateRawSync(raw, {
        dictionary: this.history.get(),
        finishFlush: zlib.constants.Z_SYNC_FLUSH,
        maxOutputLength: this.limits.maxBlockSize,
      });
    } catch (error) {
      this.broken = true;
      return headerError(`header block does not inflate: ${(error as Error).message}`);
    }
    this.history.append(block);
    return decodeHeaderBlock(block, this.limits);
  }
}

function checkZlibHeader(data: Buffer): string | null {
  if (data.length < 6) return 'first header block is too short for a zlib header';
  const cmf = data[0]!;
  const flg = data[1]!;
  if ((cmf & 0x0f) !== 8 || cmf >> 4 > 7 || (cmf * 256 + flg) % 31 !== 0) return 'first header block does not start with a zlib header';
  if ((flg & 0x20) === 0 || data.readUInt32BE(2) !== DICTIONARY_ID) return 'first header block is not compressed with the SPDY/3 dictionary';
  return null;
}

/** The sending half: one per connection, each block sync-flushed so it ends at its frame's end. */
export class HeaderCompressor {
  private readonly history = new History();
  private started = false;

  compress(headers: HeaderList): Buffer {
    const block = encodeHeaderBlock(headers);
    const raw = zlib.deflateRawSync(block, { dictionary: this.history.get(), finishFlush: zlib.constants.Z_SYNC_FLUSH });
    this.history.append(block);
    if (this.started) return raw;
    this.started = true;
    return Buffer.concat([zlibHeader(), raw]);
  }
}
