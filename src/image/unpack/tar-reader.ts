import { display } from './entry-path.js';
import { LayerUnpackError } from './layer-unpack-error.js';

/**
 * A streaming tar reader for layer unpacking: ustar, GNU long names (`L`,
 * `K`) and PAX headers (`x` per entry, `g` global) with the records a layer
 * uses (`path`, `linkpath`, `size`, `uid`, `gid`, `mtime`,
 * `SCHILY.xattr.*`). It pulls from its source only when the caller asks for
 * the next header or the next piece of content, so a slow consumer slows
 * decompression instead of buffering the layer in memory, and it hands out
 * the source's own chunks without copying.
 *
 * Names, link targets and xattr names are byte strings: latin1-decoded, one
 * character per byte. Tar stores bytes, not text, and a name that is not
 * UTF-8 must still land on disk exactly as the layer wrote it.
 *
 * Where formats leave room, it follows Go's archive/tar (what Docker and
 * containerd write and read): the end is two zero blocks or a clean end of
 * stream at a header boundary; link, symlink, device, directory and FIFO
 * entries carry no data whatever their size field says; a `\0` typeflag on a
 * name ending in `/` is a directory; PAX and long-name headers are capped at
 * 1 MiB.
 */

/** Latin1-decoded bytes: one character per byte. */
export type ByteString = string;

export type TarEntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarTimestamp {
  seconds: number;
  nanoseconds: number;
}

export interface TarHeader {
  path: ByteString;
  type: TarEntryType;
  /** Permission bits with setuid, setgid and sticky; no file-type bits. */
  mode: number;
  uid: number;
  gid: number;
  mtime: TarTimestamp;
  /** Content bytes that follow; 0 for every type but `file`. */
  size: number;
  /** The target of a `hardlink` or `symlink`; empty otherwise. */
  linkPath: ByteString;
  devMajor: number;
  devMinor: number;
  /** From `SCHILY.xattr.NAME` records, keyed by NAME. */
  xattrs: Map<ByteString, Buffer>;
}

const BLOCK = 512;
const MAX_META_SIZE = 1024 * 1024;
/** Inside the kernel's PATH_MAX (4096 with its NUL), as every path a container can use must be. */
const MAX_PATH_LENGTH = 4095;
/** (uid_t)-1 is chown's "leave unchanged", never an owner. */
const MAX_ID = 0xfffffffe;
const MAX_DEVICE_NUMBER = 0xffffffff;
const XATTR_PREFIX = 'SCHILY.xattr.';

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

export class TarReader {
  readonly #source: AsyncIterator<Buffer>;
  #chunk: Buffer = Buffer.alloc(0);
  #offset = 0;
  /** Content bytes of the current entry the caller has not read yet. */
  #remaining = 0;
  #padding = 0;
  #globalPax = new Map<string, Buffer>();

  constructor(source: AsyncIterable<Buffer>) {
    this.#source = source[Symbol.asyncIterator]();
  }

  /**
   * The next entry's header, or null at the end of the archive. Whatever the
   * caller left unread of the previous entry's content is skipped.
   */
  async next(): Promise<TarHeader | null> {
    await this.#skip(this.#remaining + this.#padding);
    this.#remaining = 0;
    this.#padding = 0;
    /** This entry's own PAX records; an empty value unsets the key, global or not. */
    let local = new Map<string, Buffer>();
    let longName: ByteString | undefined;
    let longLink: ByteString | undefined;
    for (;;) {
      const block = await this.#readExact(BLOCK);
      if (block === null || isZeroBlock(block)) {
        if (local.size > 0 || longName !== undefined || longLink !== undefined) {
          throw corrupt('a PAX or long-name header with no entry after it');
        }
        const second = block === null ? null : await this.#readExact(BLOCK);
        if (second !== null && !isZeroBlock(second)) throw corrupt('a lone zero block inside the archive');
        return null;
      }
      verifyChecksum(block);
      const typeflag = String.fromCharCode(block[156] ?? 0);
      const size = inRange(parseNumber(block, 124, 12, 'size'), Number.MAX_SAFE_INTEGER, 'size');
      switch (typeflag) {
        case 'x':
          // A second one replaces the first, as in Go's reader.
          local = parsePax(await this.#readMeta(size, 'PAX header'));
          continue;
        case 'g':
          for (const [key, value] of parsePax(await this.#readMeta(size, 'PAX global header'))) {
            if (value.length === 0) this.#globalPax.delete(key);
            else this.#globalPax.set(key, value);
          }
          continue;
        case 'L':
          longName = cString(await this.#readMeta(size, 'GNU long name'));
          continue;
        case 'K':
          longLink = cString(await this.#readMeta(size, 'GNU long link name'));
          continue;
      }
      const pax = new Map(this.#globalPax);
      for (const [key, value] of local) {
        if (value.length === 0) pax.delete(key);
        else pax.set(key, value);
      }
      const header = buildHeader(block, typeflag, size, pax, longName, longLink);
      this.#remaining = header.size;
      this.#padding = padding(header.size);
      return header;
    }
  }

  /** The current entry's content, in the source's own chunks. */
  async *body(): AsyncGenerator<Buffer> {
    while (this.#remaining > 0) {
      const piece = await this.#take(this.#remaining);
      if (piece === null) throw truncated();
      this.#remaining -= piece.length;
      yield piece;
    }
  }

  /** Reads the source to its end: what follows the end-of-archive marker still belongs to the stream. */
  async drain(): Promise<void> {
    while (await this.#load()) this.#offset = this.#chunk.length;
  }

  async #readMeta(size: number, what: string): Promise<Buffer> {
    if (size > MAX_META_SIZE) throw corrupt(`${what} of ${size} bytes (at most ${MAX_META_SIZE})`);
    const data = await this.#readExact(size);
    if (data === null) throw truncated();
    await this.#skip(padding(size));
    return data;
  }

  /** Makes the current chunk non-empty; false at the end of the source. */
  async #load(): Promise<boolean> {
    while (this.#offset >= this.#chunk.length) {
      const next = await this.#source.next();
      if (next.done === true) return false;
      this.#chunk = next.value;
      this.#offset = 0;
    }
    return true;
  }

  async #take(max: number): Promise<Buffer | null> {
    if (!(await this.#load())) return null;
    const end = Math.min(this.#chunk.length, this.#offset + max);
    const piece = this.#chunk.subarray(this.#offset, end);
    this.#offset = end;
    return piece;
  }

  /** Exactly `length` bytes; null when the source ends before the first of them. */
  async #readExact(length: number): Promise<Buffer | null> {
    if (length === 0) return Buffer.alloc(0);
    const first = await this.#take(length);
    if (first === null || first.length === length) return first;
    const pieces = [first];
    let have = first.length;
    while (have < length) {
      const piece = await this.#take(length - have);
      if (piece === null) throw truncated();
      pieces.push(piece);
      have += piece.length;
    }
    return Buffer.concat(pieces, length);
  }

  async #skip(length: number): Promise<void> {
    let left = length;
    while (left > 0) {
      const piece = await this.#take(left);
      if (piece === null) throw truncated();
      left -= piece.length;
    }
  }
}

/**
 * Checks in the native unpacker's order, so a header with several faults is
 * refused for the same one: malformed fields first (`corrupt`), then types
 * a layer cannot hold (`unsupported-entry`).
 */
function buildHeader(
  block: Buffer,
  typeflag: string,
  headerSize: number,
  pax: Map<string, Buffer>,
  longName: ByteString | undefined,
  longLink: ByteString | undefined,
): TarHeader {
  const devMajor = inRange(parseNumber(block, 329, 8, 'devmajor'), MAX_DEVICE_NUMBER, 'devmajor');
  const devMinor = inRange(parseNumber(block, 337, 8, 'devminor'), MAX_DEVICE_NUMBER, 'devminor');
  const mode = parseNumber(block, 100, 8, 'mode') & 0o7777;
  const paxMtime = pax.get('mtime');
  const mtime = paxMtime === undefined ? { seconds: parseNumber(block, 136, 12, 'mtime'), nanoseconds: 0 } : paxTime(paxMtime);
  const paxUid = paxInteger(pax, 'uid');
  const paxGid = paxInteger(pax, 'gid');
  const size = paxInteger(pax, 'size') ?? headerSize;
  const xattrs = xattrsOf(pax);
  const path = byteString(pax.get('path')) ?? longName ?? headerName(block);
  const linkPath = byteString(pax.get('linkpath')) ?? longLink ?? field(block, 157, 100);
  if (path.includes('\0') || linkPath.includes('\0')) throw corrupt(`a NUL byte in the path of ${display(path)}`);
  if (path.length > MAX_PATH_LENGTH) throw corrupt(`a path of ${path.length} bytes, longer than PATH_MAX`);
  for (const key of pax.keys()) {
    if (key.startsWith('GNU.sparse.')) throw new LayerUnpackError('unsupported-entry', 'tar: GNU sparse files are not supported');
  }
  let type = TYPES[typeflag];
  if (type === undefined) {
    throw new LayerUnpackError('unsupported-entry', `tar: entry type ${JSON.stringify(typeflag)} is not supported`);
  }
  if (typeflag === '\0' && path.endsWith('/')) type = 'dir';
  return {
    path,
    type,
    mode,
    uid: inRange(paxUid ?? parseNumber(block, 108, 8, 'uid'), MAX_ID, 'uid'),
    gid: inRange(paxGid ?? parseNumber(block, 116, 8, 'gid'), MAX_ID, 'gid'),
    mtime,
    size: type === 'file' ? inRange(size, Number.MAX_SAFE_INTEGER, 'size') : 0,
    linkPath,
    devMajor,
    devMinor,
    xattrs,
  };
}

function inRange(value: number, max: number, what: string): number {
  if (value < 0 || value > max) throw corrupt(`${what} ${value} out of range`);
  return value;
}

/** ustar splits long names into `prefix/name`; GNU tar uses the prefix field for other things. */
function headerName(block: Buffer): ByteString {
  const name = field(block, 0, 100);
  const isUstar = block.toString('latin1', 257, 263) === 'ustar\0';
  const prefix = isUstar ? field(block, 345, 155) : '';
  return prefix === '' ? name : `${prefix}/${name}`;
}

function xattrsOf(pax: Map<string, Buffer>): Map<ByteString, Buffer> {
  const xattrs = new Map<ByteString, Buffer>();
  for (const [key, value] of pax) {
    if (!key.startsWith(XATTR_PREFIX)) continue;
    const name = key.slice(XATTR_PREFIX.length);
    if (name === '' || name.includes('\0')) throw corrupt(`invalid xattr name in PAX record ${JSON.stringify(key)}`);
    xattrs.set(name, value);
  }
  return xattrs;
}

/** PAX records are `<length> <key>=<value>\n`, the length counting the whole record. */
function parsePax(data: Buffer): Map<ByteString, Buffer> {
  const records = new Map<ByteString, Buffer>();
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    const length = space < 0 ? NaN : Number(data.toString('latin1', offset, space));
    const end = offset + length;
    if (!Number.isInteger(length) || length <= 0 || end > data.length || data[end - 1] !== 0x0a) {
      throw corrupt('malformed PAX record');
    }
    const equals = data.indexOf(0x3d, space + 1);
    if (equals < 0 || equals >= end) throw corrupt('PAX record without "="');
    records.set(data.toString('latin1', space + 1, equals), data.subarray(equals + 1, end - 1));
    offset = end;
  }
  return records;
}

function paxInteger(pax: Map<string, Buffer>, key: string): number | undefined {
  const value = pax.get(key)?.toString('latin1');
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed)) throw corrupt(`PAX ${key} ${JSON.stringify(value)}`);
  return parsed;
}

function paxTime(raw: Buffer): TarTimestamp {
  const value = raw.toString('latin1');
  const match = /^(-?)(\d+)(?:\.(\d*))?$/.exec(value);
  if (match === null) throw corrupt(`PAX mtime ${JSON.stringify(value)}`);
  const [, sign, whole = '', fraction = ''] = match;
  const seconds = Number(whole);
  const nanoseconds = Number(fraction.slice(0, 9).padEnd(9, '0'));
  if (!Number.isSafeInteger(seconds)) throw corrupt(`PAX mtime ${JSON.stringify(value)}`);
  if (sign === '' || nanoseconds === 0) return { seconds: sign === '' ? seconds : -seconds, nanoseconds };
  return { seconds: -seconds - 1, nanoseconds: 1_000_000_000 - nanoseconds };
}

/**
 * A numeric header field: octal digits between optional spaces and NULs,
 * or GNU base-256 (first byte's top bit set) for values octal cannot hold.
 */
function parseNumber(block: Buffer, offset: number, length: number, what: string): number {
  const first = block[offset] ?? 0;
  if (first & 0x80) {
    let value = BigInt(first & 0x7f) - (first & 0x40 ? 0x80n : 0n);
    for (let i = offset + 1; i < offset + length; i++) value = (value << 8n) | BigInt(block[i] ?? 0);
    const number = Number(value);
    if (!Number.isSafeInteger(number)) throw corrupt(`header ${what} out of range`);
    return number;
  }
  const text = block.toString('latin1', offset, offset + length).replace(/^[ \0]+|[ \0]+$/g, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw corrupt(`header ${what} ${JSON.stringify(text)} is not octal`);
  return parseInt(text, 8);
}

/** Old tars summed signed bytes; both sums are accepted, as GNU tar and Go do. */
function verifyChecksum(block: Buffer): void {
  const stored = parseNumber(block, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  if (stored !== unsigned && stored !== signed) throw corrupt('header checksum mismatch');
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i += 4) if (block.readUInt32LE(i) !== 0) return false;
  return true;
}

function field(block: Buffer, offset: number, length: number): ByteString {
  const end = block.indexOf(0, offset);
  return block.toString('latin1', offset, end < 0 || end > offset + length ? offset + length : end);
}

function cString(data: Buffer): ByteString {
  const end = data.indexOf(0);
  return data.toString('latin1', 0, end < 0 ? data.length : end);
}

function byteString(value: Buffer | undefined): ByteString | undefined {
  return value?.toString('latin1');
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function corrupt(detail: string): LayerUnpackError {
  return new LayerUnpackError('corrupt', `tar: ${detail}`);
}

function truncated(): LayerUnpackError {
  return corrupt('the stream ends inside an entry');
}
