/**
 * Builds tar archives for tests, byte by byte, so a test can make exactly
 * the layer it needs, hostile ones included (`../` paths, writes through
 * symlinks), which no tar tool will produce on request. USTAR headers, with
 * a PAX extended header whenever a name, link or value does not fit, and for
 * xattrs (`SCHILY.xattr.*`) as Docker and containerd write them.
 */

export type TarEntry =
  | ({ type: 'file'; content?: string | Buffer } & EntryCommon)
  | ({ type: 'dir' } & EntryCommon)
  | ({ type: 'symlink' | 'hardlink'; target: string } & EntryCommon)
  | ({ type: 'char' | 'block'; major: number; minor: number } & EntryCommon)
  | ({ type: 'fifo' } & EntryCommon)
  /** A raw typeflag, for entry types a reader must refuse. */
  | ({ type: 'raw'; typeflag: string; content?: Buffer } & EntryCommon);

interface EntryCommon {
  path: string;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch; fractions go into a PAX `mtime` record. */
  mtime?: number;
  xattrs?: Record<string, string>;
  /** Extra PAX records, written verbatim. */
  pax?: Record<string, string>;
}

const BLOCK = 512;

const TYPEFLAG = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' } as const;

/** Directory entries (0755) for every parent of the given relative paths, parents first: what a layer adding files under new directories needs. */
export function parentDirEntries(paths: readonly string[]): TarEntry[] {
  const dirs = new Set<string>();
  for (const file of paths) {
    for (let dir = file.slice(0, file.lastIndexOf('/')); dir !== ''; dir = dir.slice(0, Math.max(dir.lastIndexOf('/'), 0))) dirs.add(dir);
  }
  return [...dirs].sort().map((dir) => ({ type: 'dir', path: `${dir}/`, mode: 0o755 }));
}

export function tarArchive(entries: readonly TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) blocks.push(...encodeEntry(entry));
  blocks.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(blocks);
}

function encodeEntry(entry: TarEntry): Buffer[] {
  const body = entry.type === 'file' ? toBuffer(entry.content) : entry.type === 'raw' ? (entry.content ?? Buffer.alloc(0)) : Buffer.alloc(0);
  const linkname = entry.type === 'symlink' || entry.type === 'hardlink' ? entry.target : '';
  const pax: Record<string, string> = { ...entry.pax };
  for (const [name, value] of Object.entries(entry.xattrs ?? {})) pax[`SCHILY.xattr.${name}`] = value;
  if (Buffer.byteLength(entry.path) > 100) pax.path = entry.path;
  if (Buffer.byteLength(linkname) > 100) pax.linkpath = linkname;
  const mtime = entry.mtime ?? 1_700_000_000;
  if (!Number.isInteger(mtime)) pax.mtime = mtime.toFixed(9);

  const out: Buffer[] = [];
  if (Object.keys(pax).length > 0) {
    const records = Buffer.concat(Object.entries(pax).map(([key, value]) => paxRecord(key, value)));
    out.push(header({ name: 'PaxHeaders/entry', typeflag: 'x', size: records.length, mode: 0o644, uid: 0, gid: 0, mtime: 0 }));
    out.push(padded(records));
  }
  out.push(
    header({
      name: entry.path.slice(0, 100),
      typeflag: entry.type === 'raw' ? entry.typeflag : TYPEFLAG[entry.type],
      size: body.length,
      mode: entry.mode ?? (entry.type === 'dir' ? 0o755 : 0o644),
      uid: entry.uid ?? 0,
      gid: entry.gid ?? 0,
      mtime: Math.floor(mtime),
      linkname: linkname.slice(0, 100),
      major: entry.type === 'char' || entry.type === 'block' ? entry.major : 0,
      minor: entry.type === 'char' || entry.type === 'block' ? entry.minor : 0,
    }),
  );
  if (body.length > 0) out.push(padded(body));
  return out;
}

function toBuffer(content: string | Buffer | undefined): Buffer {
  return typeof content === 'string' ? Buffer.from(content) : (content ?? Buffer.alloc(0));
}

/** A PAX record's length prefix counts its own digits. */
function paxRecord(key: string, value: string): Buffer {
  const rest = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(rest) + 1;
  while (String(length).length + Buffer.byteLength(rest) !== length) length += 1;
  return Buffer.from(`${length}${rest}`);
}

function padded(data: Buffer): Buffer {
  const remainder = data.length % BLOCK;
  return remainder === 0 ? data : Buffer.concat([data, Buffer.alloc(BLOCK - remainder)]);
}

interface HeaderFields {
  name: string;
  typeflag: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname?: string;
  major?: number;
  minor?: number;
}

function header(fields: HeaderFields): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(fields.name, 0, 100);
  octal(block, 100, 8, fields.mode);
  octal(block, 108, 8, fields.uid);
  octal(block, 116, 8, fields.gid);
  octal(block, 124, 12, fields.size);
  octal(block, 136, 12, fields.mtime);
  block.fill(' ', 148, 156);
  block.write(fields.typeflag, 156, 1);
  block.write(fields.linkname ?? '', 157, 100);
  block.write('ustar\u000000', 257, 8, 'binary');
  octal(block, 329, 8, fields.major ?? 0);
  octal(block, 337, 8, fields.minor ?? 0);
  let checksum = 0;
  for (const byte of block) checksum += byte;
  block.write(`${checksum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'binary');
  return block;
}

function octal(block: Buffer, offset: number, width: number, value: number): void {
  block.write(`${value.toString(8).padStart(width - 1, '0')}\u0000`, offset, width, 'binary');
}
