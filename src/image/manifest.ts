import { InvalidArgumentError, NotFoundError } from '../errors.js';
import { digestProblem, type Digest } from './digest.js';

/**
 * The JSON documents of an image, validated into typed values: OCI image
 * manifests and indexes, Docker schema 2 manifests and manifest lists (the
 * same shapes under other media types), and the image config. Also picks
 * this host's entry from an index and tells a layer's compression from its
 * media type. Anything crion cannot run (schema 1, artifacts, foreign
 * layers) is refused here with a message that says why, so the pull fails
 * before it downloads anything.
 */

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerZstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** What a registry is asked for, best first; schema 1 is listed only so that it can be refused by name. */
export const MANIFEST_ACCEPT: readonly string[] = [
  MediaType.ociIndex,
  MediaType.ociManifest,
  MediaType.dockerManifestList,
  MediaType.dockerManifest,
  MediaType.dockerSchema1Signed,
  MediaType.dockerSchema1,
];

const MANIFEST_TYPES = new Set<string>([MediaType.ociManifest, MediaType.dockerManifest]);
const INDEX_TYPES = new Set<string>([MediaType.ociIndex, MediaType.dockerManifestList]);
const CONFIG_TYPES = new Set<string>([MediaType.ociConfig, MediaType.dockerConfig]);
const SCHEMA1_TYPES = new Set<string>([MediaType.dockerSchema1, MediaType.dockerSchema1Signed]);

export type LayerCompression = 'gzip' | 'zstd' | 'none';

const LAYER_COMPRESSION: ReadonlyMap<string, LayerCompression> = new Map([
  [MediaType.ociLayer, 'none'],
  [MediaType.ociLayerGzip, 'gzip'],
  [MediaType.ociLayerZstd, 'zstd'],
  [MediaType.dockerLayer, 'none'],
  [MediaType.dockerLayerGzip, 'gzip'],
  [MediaType.dockerLayerZstd, 'zstd'],
]);

export interface Platform {
  /** GOOS: `linux`. */
  readonly os: string;
  /** GOARCH: `amd64`, `arm64`, `arm`. */
  readonly architecture: string;
  /** `v7`, `v8`; null when the entry names none. */
  readonly variant: string | null;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  /** Only index entries carry one. */
  readonly platform: Platform | null;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface ImageManifest {
  readonly kind: 'manifest';
  readonly mediaType: string;
  readonly config: Descriptor;
  /** Base layer first. */
  readonly layers: readonly Descriptor[];
  readonly annotations: Readonly<Record<string, string>>;
}

export interface ImageIndex {
  readonly kind: 'index';
  readonly mediaType: string;
  readonly manifests: readonly Descriptor[];
  readonly annotations: Readonly<Record<string, string>>;
}

export type Manifest = ImageManifest | ImageIndex;

export interface ImageConfigFile {
  readonly architecture: string;
  readonly os: string;
  readonly variant: string | null;
  readonly created: string | null;
  readonly config: ContainerDefaults;
  /** Digests of the uncompressed layers, base first; one per manifest layer. */
  readonly diffIds: readonly Digest[];
  readonly history: readonly HistoryEntry[];
}

/** The image's `config` object: what a container gets when its spec does not say otherwise. */
export interface ContainerDefaults {
  readonly user: string;
  readonly env: readonly string[];
  /** Null when the image sets none, which differs from an explicit empty list. */
  readonly entrypoint: readonly string[] | null;
  readonly cmd: readonly string[] | null;
  readonly workingDir: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly stopSignal: string | null;
  /** `80/tcp`, `53/udp`. */
  readonly exposedPorts: readonly string[];
  readonly volumes: readonly string[];
}

export interface HistoryEntry {
  readonly created: string | null;
  readonly createdBy: string | null;
  readonly comment: string | null;
  readonly emptyLayer: boolean;
}

/**
 * Parses a manifest or index. The media type comes from the document's own
 * `mediaType` (it is covered by the digest), else from the Content-Type the
 * registry sent, else from the document's shape, as containers/image does.
 */
export function parseManifest(bytes: Uint8Array, contentType: string | null): Manifest {
  const document = parseJson(bytes, 'manifest');
  const reader = new JsonReader('manifest');
  const mediaType = reader.optionalString(document, 'mediaType') ?? knownContentType(contentType) ?? guessMediaType(document);
  if (document.schemaVersion === 1 || (mediaType !== null && SCHEMA1_TYPES.has(mediaType))) {
    throw new InvalidArgumentError('Docker schema 1 manifests are not supported; re-push the image with a current client');
  }
  if (mediaType === null) {
    throw new InvalidArgumentError('unsupported manifest: it names no media type and has no manifests or layers');
  }
  if (document.schemaVersion !== 2) throw reader.invalid('schemaVersion', 'must be 2');
  const annotations = reader.stringMap(document, 'annotations');
  if (MANIFEST_TYPES.has(mediaType)) {
    const config = descriptor(reader, document.config, 'config');
    if (!CONFIG_TYPES.has(config.mediaType)) {
      throw new InvalidArgumentError(`not a container image: its config has media type "${config.mediaType}" (an OCI artifact?)`);
    }
    const layers = reader.array(document, 'layers').map((entry, i) => descriptor(reader, entry, `layers[${i}]`));
    for (const layer of layers) layerCompression(layer.mediaType);
    return { kind: 'manifest', mediaType, config, layers, annotations };
  }
  if (INDEX_TYPES.has(mediaType)) {
    const manifests = reader.array(document, 'manifests').map((entry, i) => descriptor(reader, entry, `manifests[${i}]`));
    return { kind: 'index', mediaType, manifests, annotations };
  }
  throw new InvalidArgumentError(`unsupported manifest media type "${mediaType}"`);
}

function knownContentType(contentType: string | null): string | null {
  const type = contentType?.split(';')[0]?.trim().toLowerCase() ?? '';
  return MANIFEST_TYPES.has(type) || INDEX_TYPES.has(type) || SCHEMA1_TYPES.has(type) ? type : null;
}

/** OCI lets a document omit `mediaType`; its shape still tells which it is. */
function guessMediaType(document: JsonObject): string | null {
  if (Array.isArray(document.manifests)) return MediaType.ociIndex;
  if (typeof document.config === 'object' && Array.isArray(document.layers)) return MediaType.ociManifest;
  return null;
}

function descriptor(reader: JsonReader, value: unknown, where: string): Descriptor {
  const object = reader.asObject(value, where);
  const mediaType = reader.string(object, 'mediaType', where);
  const digestText = reader.string(object, 'digest', where);
  const problem = digestProblem(digestText);
  if (problem !== null) throw reader.invalid(`${where}.digest`, problem);
  const size = object.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw reader.invalid(`${where}.size`, 'must be a non-negative integer');
  }
  let platform: Platform | null = null;
  if (object.platform !== undefined && object.platform !== null) {
    const at = `${where}.platform`;
    const fields = reader.asObject(object.platform, at);
    platform = {
      os: reader.string(fields, 'os', at),
      architecture: reader.string(fields, 'architecture', at),
      variant: reader.optionalString(fields, 'variant', at),
    };
  }
  const annotations = reader.stringMap(object, 'annotations', where);
  return { mediaType, digest: digestText as Digest, size, platform, annotations };
}

/** Throws InvalidArgumentError for layers crion cannot unpack, naming the media type. */
export function layerCompression(mediaType: string): LayerCompression {
  const compression = LAYER_COMPRESSION.get(mediaType);
  if (compression !== undefined) return compression;
  if (mediaType.includes('foreign') || mediaType.includes('nondistributable')) {
    throw new InvalidArgumentError(`layer media type "${mediaType}" is a foreign (non-distributable) layer, which crion does not fetch`);
  }
  throw new InvalidArgumentError(`layer media type "${mediaType}" is not supported`);
}

const GOARCH: Readonly<Record<string, string>> = {
  x64: 'amd64',
  ia32: '386',
  arm64: 'arm64',
  arm: 'arm',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mipsel: 'mipsle',
};

/** This host as an index names platforms: Node's `process.arch` mapped to GOARCH. */
export function hostPlatform(): Platform {
  const architecture = GOARCH[process.arch] ?? process.arch;
  const armVersion = (process.config.variables as { arm_version?: string }).arm_version;
  const variant = architecture === 'arm64' ? 'v8' : architecture === 'arm' ? `v${armVersion ?? '7'}` : null;
  return { os: 'linux', architecture, variant };
}

/**
 * Variants that run on `platform`, best first. An arm64 entry without a
 * variant is v8; an arm host runs older arm variants too. Entries that name
 * no variant come last, as containerd orders them.
 */
function compatibleVariants(platform: Platform): readonly (string | null)[] {
  if (platform.architecture === 'arm64') return ['v8', null];
  if (platform.architecture === 'arm') {
    const version = Number(platform.variant?.slice(1) ?? '7');
    const older = [7, 6, 5].filter((v) => v <= version).map((v) => `v${v}`);
    return [...older, null];
  }
  return [platform.variant, null];
}

export function platformString(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter((part) => part !== null).join('/');
}

/**
 * The index entry to run on `platform` (this host by default). Entries
 * without a platform are taken only when none names a match, the way
 * containerd treats them; attestation entries (`unknown/unknown`) never match.
 * Throws NotFoundError listing what the index offers.
 */
export function selectPlatform(index: ImageIndex, platform: Platform = hostPlatform()): Descriptor {
  const images = index.manifests.filter((entry) => MANIFEST_TYPES.has(entry.mediaType));
  const variants = compatibleVariants(platform);
  const rank = (entry: Descriptor): number => {
    if (entry.platform === null) return variants.length;
    if (entry.platform.os !== platform.os || entry.platform.architecture !== platform.architecture) return -1;
    return variants.indexOf(entry.platform.variant);
  };
  let best: Descriptor | null = null;
  for (const entry of images) {
    const score = rank(entry);
    if (score !== -1 && (best === null || score < rank(best))) best = entry;
  }
  if (best !== null) return best;
  const offered = images.flatMap((entry) => (entry.platform === null || entry.platform.os === 'unknown' ? [] : [platformString(entry.platform)]));
  throw new NotFoundError(
    `the image has no manifest for ${platformString(platform)}` +
      (offered.length === 0 ? '; its index lists no platforms' : `; it offers ${[...new Set(offered)].join(', ')}`),
  );
}

/** Parses an image config (OCI or Docker, which share the format). */
export function parseImageConfig(bytes: Uint8Array): ImageConfigFile {
  const document = parseJson(bytes, 'image config');
  const reader = new JsonReader('image config');
  const rootfs = reader.object(document, 'rootfs');
  if (rootfs.type !== 'layers') throw reader.invalid('rootfs.type', 'must be "layers"');
  const diffIds = reader.array(rootfs, 'diff_ids', 'rootfs').map((value, i) => {
    const problem = typeof value === 'string' ? digestProblem(value) : 'must be a string';
    if (problem !== null) throw reader.invalid(`rootfs.diff_ids[${i}]`, problem);
    return value as Digest;
  });
  const defaults = document.config === undefined || document.config === null ? {} : reader.object(document, 'config');
  const where = 'config';
  return {
    architecture: reader.string(document, 'architecture'),
    os: reader.string(document, 'os'),
    variant: reader.optionalString(document, 'variant'),
    created: reader.optionalString(document, 'created'),
    config: {
      user: reader.optionalString(defaults, 'User', where) ?? '',
      env: reader.optionalStrings(defaults, 'Env', where) ?? [],
      entrypoint: reader.optionalStrings(defaults, 'Entrypoint', where),
      cmd: reader.optionalStrings(defaults, 'Cmd', where),
      workingDir: reader.optionalString(defaults, 'WorkingDir', where) ?? '',
      labels: reader.stringMap(defaults, 'Labels', where),
      stopSignal: reader.optionalString(defaults, 'StopSignal', where),
      exposedPorts: reader.keys(defaults, 'ExposedPorts', where),
      volumes: reader.keys(defaults, 'Volumes', where),
    },
    diffIds,
    history: (document.history === undefined || document.history === null ? [] : reader.array(document, 'history')).map((value, i) => {
      const entry = reader.asObject(value, `history[${i}]`);
      const at = `history[${i}]`;
      return {
        created: reader.optionalString(entry, 'created', at),
        createdBy: reader.optionalString(entry, 'created_by', at),
        comment: reader.optionalString(entry, 'comment', at),
        emptyLayer: entry.empty_layer === true,
      };
    }),
  };
}

type JsonObject = { readonly [key: string]: unknown };

function parseJson(bytes: Uint8Array, what: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new InvalidArgumentError(`invalid ${what}: not JSON (${(error as Error).message})`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(`invalid ${what}: not a JSON object`);
  }
  return value as JsonObject;
}

/** Field access that names the offending field when the document is malformed. */
class JsonReader {
  constructor(private readonly what: string) {}

  invalid(field: string, problem: string): InvalidArgumentError {
    return new InvalidArgumentError(`invalid ${this.what}: ${field} ${problem}`);
  }

  private path(where: string | undefined, key: string): string {
    return where === undefined ? key : `${where}.${key}`;
  }

  asObject(value: unknown, field: string): JsonObject {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw this.invalid(field, 'must be an object');
    }
    return value as JsonObject;
  }

  object(object: JsonObject, key: string, where?: string): JsonObject {
    return this.asObject(object[key], this.path(where, key));
  }

  array(object: JsonObject, key: string, where?: string): readonly unknown[] {
    const value = object[key];
    if (!Array.isArray(value)) throw this.invalid(this.path(where, key), 'must be an array');
    return value;
  }

  string(object: JsonObject, key: string, where?: string): string {
    const value = object[key];
    if (typeof value !== 'string' || value === '') {
      throw this.invalid(this.path(where, key), 'must be a non-empty string');
    }
    return value;
  }

  optionalString(object: JsonObject, key: string, where?: string): string | null {
    const value = object[key];
    if (value === undefined || value === null || value === '') return null;
    if (typeof value !== 'string') throw this.invalid(this.path(where, key), 'must be a string');
    return value;
  }

  optionalStrings(object: JsonObject, key: string, where?: string): string[] | null {
    const value = object[key];
    if (value === undefined || value === null) return null;
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
      throw this.invalid(this.path(where, key), 'must be a list of strings');
    }
    return value;
  }

  stringMap(object: JsonObject, key: string, where?: string): Record<string, string> {
    const value = object[key];
    if (value === undefined || value === null) return {};
    const map = this.asObject(value, this.path(where, key));
    if (!Object.values(map).every((item) => typeof item === 'string')) {
      throw this.invalid(this.path(where, key), 'must map strings to strings');
    }
    return { ...(map as Record<string, string>) };
  }

  /** Docker writes sets as objects with empty values: `{"80/tcp": {}}`. */
  keys(object: JsonObject, key: string, where?: string): string[] {
    const value = object[key];
    if (value === undefined || value === null) return [];
    return Object.keys(this.asObject(value, this.path(where, key)));
  }
}
