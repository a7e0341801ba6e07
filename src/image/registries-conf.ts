import type { TomlTable } from 'smol-toml';
import { ConfigError } from '../config/config-error.js';
import { dropIns, parseToml, readText } from '../config/load.js';
import { isTable, tomlKey } from '../config/toml.js';
import { InvalidArgumentError, PermissionDeniedError } from '../errors.js';
import {
  isRegistryHost,
  parseReference,
  parseRepository,
  qualify,
  referenceString,
  shortNameString,
  type ImageReference,
  type ParsedReference,
  type ShortName,
} from './reference.js';

/**
 * containers-registries.conf(5), version 2: where an image name is really
 * pulled from. Loaded once at daemon start from `registries_conf`, then each
 * `registries_conf_dir/*.conf` in lexical order; a missing file is no
 * configuration, a malformed one is a ConfigError naming file and key, so
 * the daemon refuses to start rather than pull from the wrong place.
 *
 * Drop-ins merge as containers/image merges them: a `[[registry]]` replaces
 * one with the same prefix, `unqualified-search-registries` and
 * `short-name-mode` replace earlier values when set, `[aliases]` merge key
 * by key and an empty alias erases one.
 *
 * Short names: an alias wins; otherwise each search registry in order. crion
 * has no terminal to prompt at, so, as the man page says for that case,
 * `enforcing` refuses a short name that more than one search registry could
 * serve (listing them), while `permissive` (the default) and `disabled` try
 * each in order, which is what CRI-O does in every mode. When no file sets
 * `unqualified-search-registries`, short names go to docker.io, as with
 * containerd and Docker, since that is what the kubelet's users mean by
 * `busybox`; setting it to `[]` refuses short names.
 *
 * The version 1 format and keys crion does not implement (credential
 * helpers) are refused rather than ignored, so a setting never silently
 * does nothing.
 */

export type ShortNameMode = 'enforcing' | 'permissive' | 'disabled';
export type PullFromMirror = 'all' | 'digest-only' | 'tag-only';

export interface MirrorConfig {
  readonly location: string;
  readonly insecure: boolean;
  readonly pullFromMirror: PullFromMirror;
}

export interface RegistryConfig {
  /** `host[:port][/path][:tag|@digest]`, or `*.example.com`. */
  readonly prefix: string;
  /** Null only for a wildcard prefix without one: the name is pulled from where it says. */
  readonly location: string | null;
  readonly insecure: boolean;
  readonly blocked: boolean;
  readonly mirrorByDigestOnly: boolean;
  readonly mirrors: readonly MirrorConfig[];
  /** The file that defined it, for messages. */
  readonly source: string;
}

export interface Alias {
  readonly registry: string;
  readonly repository: string;
  readonly source: string;
}

export interface RegistriesConfig {
  /** Files that were read, in the order they were applied. */
  readonly files: readonly string[];
  readonly unqualifiedSearchRegistries: readonly string[];
  /** The file that set the search registries; null for crion's default. */
  readonly searchRegistriesSource: string | null;
  readonly shortNameMode: ShortNameMode;
  /** Keyed by short name as written: `busybox`, `myorg/app`. */
  readonly aliases: ReadonlyMap<string, Alias>;
  readonly registries: readonly RegistryConfig[];
}

export interface RegistriesConfPaths {
  /** `image.registries_conf`. */
  readonly file: string;
  /** `image.registries_conf_dir`. */
  readonly dir: string;
}

/** One place to pull from, best first in resolvePullCandidates' answer. */
export interface PullCandidate {
  /** Where the bytes are: the name rewritten to the mirror or location; its registry is the endpoint host. */
  readonly reference: ImageReference;
  /** The name the image is known by whichever endpoint serves it: the CRI repo tag. */
  readonly canonical: ImageReference;
  /** Plain HTTP and unverified TLS are allowed. */
  readonly insecure: boolean;
  readonly mirror: boolean;
}

const DEFAULT_SEARCH_REGISTRIES: readonly string[] = ['docker.io'];
const DEFAULT_SHORT_NAME_MODE: ShortNameMode = 'permissive';
const SHORT_NAME_MODES: readonly ShortNameMode[] = ['enforcing', 'permissive', 'disabled'];
const PULL_FROM_MIRROR: readonly PullFromMirror[] = ['all', 'digest-only', 'tag-only'];

/** What one file says; null where it says nothing. */
interface ConfLayer {
  readonly source: string;
  readonly search: readonly string[] | null;
  readonly mode: ShortNameMode | null;
  /** A null value erases the alias. */
  readonly aliases: ReadonlyMap<string, Alias | null>;
  readonly registries: readonly RegistryConfig[];
}

export async function loadRegistriesConfig(paths: RegistriesConfPaths): Promise<RegistriesConfig> {
  const layers: ConfLayer[] = [];
  for (const file of [paths.file, ...(await dropIns(paths.dir))]) {
    const text = await readText(file, false);
    if (text !== null) layers.push(parseLayer(file, parseToml(file, text)));
  }
  return mergeLayers(layers);
}

function mergeLayers(layers: readonly ConfLayer[]): RegistriesConfig {
  let search = DEFAULT_SEARCH_REGISTRIES;
  let searchSource: string | null = null;
  let mode = DEFAULT_SHORT_NAME_MODE;
  const aliases = new Map<string, Alias>();
  const registries = new Map<string, RegistryConfig>();
  for (const layer of layers) {
    if (layer.search !== null) {
      search = layer.search;
      searchSource = layer.source;
    }
    mode = layer.mode ?? mode;
    for (const [name, alias] of layer.aliases) {
      if (alias === null) aliases.delete(name);
      else aliases.set(name, alias);
    }
    for (const registry of layer.registries) registries.set(registry.prefix, registry);
  }
  return {
    files: layers.map((layer) => layer.source),
    unqualifiedSearchRegistries: search,
    searchRegistriesSource: searchSource,
    shortNameMode: mode,
    aliases,
    registries: [...registries.values()],
  };
}

const TOP_LEVEL_KEYS = new Set(['unqualified-search-registries', 'short-name-mode', 'aliases', 'registry']);
const REGISTRY_KEYS = new Set(['prefix', 'location', 'insecure', 'blocked', 'mirror-by-digest-only', 'mirror']);
const MIRROR_KEYS = new Set(['location', 'insecure', 'pull-from-mirror']);
const UNSUPPORTED_KEYS: Readonly<Record<string, string>> = {
  registries:
    'the version 1 format ([registries.search], [registries.insecure], [registries.block]) is not supported; ' +
    'rewrite it as version 2 (unqualified-search-registries and [[registry]] tables; ' +
    'see containers-registries.conf(5))',
  'credential-helpers': 'credential helpers are not supported; crion reads credentials from image.auth_file',
  'additional-layer-store-auth-helper': 'additional layer stores are not supported',
};

function parseLayer(source: string, table: TomlTable): ConfLayer {
  const fields = new Fields(source);
  for (const key of Object.keys(table)) {
    const unsupported = UNSUPPORTED_KEYS[key];
    if (unsupported !== undefined) throw fields.error(key, unsupported);
    if (!TOP_LEVEL_KEYS.has(key)) throw fields.error(key, 'unknown key');
  }
  const search =
    fields.stringList(table, 'unqualified-search-registries')?.map((entry, i) => {
      const host = entry.replace(/\/+$/, '');
      if (isRegistryHost(host)) return host;
      throw fields.error(`unqualified-search-registries[${i}]`, `"${entry}" is not a registry host[:port]`);
    }) ?? null;
  const modeText = fields.string(table, 'short-name-mode') ?? '';
  const mode = modeText === '' ? null : SHORT_NAME_MODES.find((candidate) => candidate === modeText);
  if (mode === undefined) {
    throw fields.error('short-name-mode', `must be one of ${SHORT_NAME_MODES.join(', ')}, not "${modeText}"`);
  }
  const registries: RegistryConfig[] = [];
  for (const [i, entry] of fields.tables(table, 'registry', '[[registry]]').entries()) {
    const registry = parseRegistry(fields, entry, `registry[${i}]`);
    if (registries.some((other) => other.prefix === registry.prefix)) {
      throw fields.error(`registry[${i}].prefix`, `"${registry.prefix}" is already defined earlier in this file`);
    }
    registries.push(registry);
  }
  return { source, search, mode, aliases: parseAliases(fields, table), registries };
}

function parseAliases(fields: Fields, table: TomlTable): Map<string, Alias | null> {
  const aliases = new Map<string, Alias | null>();
  for (const [name, value] of Object.entries(fields.table(table, 'aliases') ?? {})) {
    const key = `aliases.${tomlKey([name])}`;
    const written = parseOrThrow(
      () => parseRepository(name),
      (reason) => fields.error(key, reason),
    );
    if (written.kind !== 'short') throw fields.error(key, 'an alias name must be a short name, without a registry');
    if (typeof value !== 'string') throw fields.error(key, 'must be a string');
    if (value === '') {
      aliases.set(name, null);
      continue;
    }
    const target = parseOrThrow(
      () => parseRepository(value),
      (reason) => fields.error(key, reason),
    );
    if (target.kind !== 'qualified') {
      throw fields.error(key, `"${value}" must be fully qualified (registry/repository)`);
    }
    aliases.set(name, { registry: target.registry, repository: target.repository, source: fields.source });
  }
  return aliases;
}

function parseRegistry(fields: Fields, entry: TomlTable, at: string): RegistryConfig {
  fields.checkKeys(entry, REGISTRY_KEYS, at);
  const locationText = fields.string(entry, 'location', at);
  const prefixText = fields.string(entry, 'prefix', at);
  const location = locationText === null ? null : checkLocation(locationText, false, (reason) => fields.error(`${at}.location`, reason));
  const prefix = prefixText === null ? location : checkLocation(prefixText, true, (reason) => fields.error(`${at}.prefix`, reason));
  if (prefix === null) throw fields.error(at, 'sets neither prefix nor location');
  if (location === null && !prefix.startsWith('*.')) {
    throw fields.error(`${at}.location`, 'is required unless the prefix is a wildcard (*.example.com)');
  }
  const mirrorByDigestOnly = fields.boolean(entry, 'mirror-by-digest-only', at) ?? false;
  const mirrors = fields.tables(entry, 'mirror', '[[registry.mirror]]', at).map((mirror, j): MirrorConfig => {
    const mirrorAt = `${at}.mirror[${j}]`;
    fields.checkKeys(mirror, MIRROR_KEYS, mirrorAt);
    const mirrorLocation = fields.string(mirror, 'location', mirrorAt);
    if (mirrorLocation === null) throw fields.error(`${mirrorAt}.location`, 'is required');
    const pullText = fields.string(mirror, 'pull-from-mirror', mirrorAt);
    if (pullText !== null && mirrorByDigestOnly) {
      throw fields.error(`${mirrorAt}.pull-from-mirror`, 'cannot be combined with mirror-by-digest-only on the registry');
    }
    const pullFromMirror = pullText === null ? 'all' : PULL_FROM_MIRROR.find((value) => value === pullText);
    if (pullFromMirror === undefined) {
      throw fields.error(`${mirrorAt}.pull-from-mirror`, `must be one of ${PULL_FROM_MIRROR.join(', ')}, not "${pullText}"`);
    }
    return {
      location: checkLocation(mirrorLocation, false, (reason) => fields.error(`${mirrorAt}.location`, reason)),
      insecure: fields.boolean(mirror, 'insecure', mirrorAt) ?? false,
      pullFromMirror,
    };
  });
  return {
    prefix,
    location,
    insecure: fields.boolean(entry, 'insecure', at) ?? false,
    blocked: fields.boolean(entry, 'blocked', at) ?? false,
    mirrorByDigestOnly,
    mirrors,
    source: fields.source,
  };
}

function parseOrThrow<T>(parse: () => T, wrap: (reason: string) => Error): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw wrap(error.message);
    throw error;
  }
}

/**
 * A prefix or location: `host[:port]`, optionally a path and a tag or
 * digest, or (prefixes only) `*.example.com`. Returns it without trailing
 * slashes, the form that is matched and rewritten.
 */
function checkLocation(text: string, wildcardAllowed: boolean, error: (reason: string) => Error): string {
  const trimmed = text.replace(/\/+$/, '');
  if (/^[a-z]+:\/\//i.test(trimmed)) throw error(`"${text}": URL schemes are not supported; write host[:port][/path]`);
  if (trimmed.startsWith('*.')) {
    if (wildcardAllowed && isRegistryHost(trimmed.slice(2)) && !/[:/@]/.test(trimmed)) return trimmed;
    throw error(`"${text}": a wildcard is only allowed as a whole prefix of the form *.example.com`);
  }
  if (!trimmed.includes('/')) {
    if (isRegistryHost(trimmed)) return trimmed;
    throw error(`"${text}" is not a registry host[:port] (one with a dot or a port, or localhost)`);
  }
  const parsed = parseOrThrow(() => parseReference(trimmed), error);
  if (parsed.kind !== 'qualified') throw error(`"${text}" must start with a registry host[:port]`);
  return trimmed;
}

/** Typed TOML field access whose errors name the file and the key. */
class Fields {
  constructor(readonly source: string) {}

  error(key: string, reason: string): ConfigError {
    return new ConfigError(this.source, key, reason);
  }

  private key(at: string | undefined, key: string): string {
    return at === undefined ? key : `${at}.${key}`;
  }

  checkKeys(table: TomlTable, known: ReadonlySet<string>, at: string): void {
    for (const key of Object.keys(table)) if (!known.has(key)) throw this.error(this.key(at, key), 'unknown key');
  }

  string(table: TomlTable, key: string, at?: string): string | null {
    const value = table[key];
    if (value === undefined) return null;
    if (typeof value !== 'string') throw this.error(this.key(at, key), 'must be a string');
    return value;
  }

  boolean(table: TomlTable, key: string, at?: string): boolean | null {
    const value = table[key];
    if (value === undefined) return null;
    if (typeof value !== 'boolean') throw this.error(this.key(at, key), 'must be true or false');
    return value;
  }

  stringList(table: TomlTable, key: string): string[] | null {
    const value = table[key];
    if (value === undefined) return null;
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
      throw this.error(key, 'must be a list of strings');
    }
    return value;
  }

  table(table: TomlTable, key: string): TomlTable | null {
    const value = table[key];
    if (value === undefined) return null;
    if (!isTable(value)) throw this.error(key, 'must be a table');
    return value;
  }

  /** An array of tables; `syntax` is how the file should spell it. */
  tables(table: TomlTable, key: string, syntax: string, at?: string): TomlTable[] {
    const value = table[key];
    if (value === undefined) return [];
    if (!Array.isArray(value) || !value.every(isTable)) {
      throw this.error(this.key(at, key), `must be an array of tables (${syntax})`);
    }
    return value;
  }
}

/**
 * The fully qualified names a short name stands for, in the order they are
 * tried: its alias alone, else one per search registry. Also what a local
 * lookup of a short name should try, so it ignores short-name-mode.
 */
export function shortNameCandidates(config: RegistriesConfig, name: ShortName): ImageReference[] {
  const alias = config.aliases.get(name.repository);
  if (alias !== undefined) {
    return [{ registry: alias.registry, repository: alias.repository, tag: name.tag, digest: name.digest }];
  }
  return config.unqualifiedSearchRegistries.map((registry) => qualify(name, registry));
}

/**
 * Every endpoint to try for `parsed`, in order: for each name it may stand
 * for, the matching [[registry]]'s mirrors (as pull-from-mirror allows),
 * then its location. Throws PermissionDeniedError when the name is blocked
 * (for a short name: when every registry it could come from is) and
 * InvalidArgumentError when a short name cannot be resolved.
 */
export function resolvePullCandidates(config: RegistriesConfig, parsed: ParsedReference): PullCandidate[] {
  if (parsed.kind === 'qualified') return candidatesFor(config, parsed.reference);
  const names = shortNameCandidates(config, parsed.name);
  const written = shortNameString(parsed.name);
  if (names.length === 0) {
    throw new InvalidArgumentError(
      `short name "${written}" cannot be resolved: ${config.searchRegistriesSource} sets no ` +
        'unqualified-search-registries; use a fully qualified name',
    );
  }
  if (names.length > 1 && config.shortNameMode === 'enforcing') {
    throw new InvalidArgumentError(
      `short name "${written}" is ambiguous under short-name-mode "enforcing": it could be ` +
        `${names.map(referenceString).join(', ')}; use a fully qualified name or add an [aliases] entry`,
    );
  }
  // A loop rather than flatMap: TypeScript does not see `blocked` assigned inside a callback
  // and would take it for always null below.
  let blocked: PermissionDeniedError | null = null;
  const candidates: PullCandidate[] = [];
  for (const name of names) {
    try {
      candidates.push(...candidatesFor(config, name));
    } catch (error) {
      if (!(error instanceof PermissionDeniedError)) throw error;
      blocked ??= error;
    }
  }
  if (candidates.length === 0 && blocked !== null) throw blocked;
  return candidates;
}

function candidatesFor(config: RegistriesConfig, canonical: ImageReference): PullCandidate[] {
  const name = referenceString(canonical);
  const match = findRegistry(config, name);
  if (match === null) return [{ reference: canonical, canonical, insecure: false, mirror: false }];
  const { registry, end } = match;
  if (registry.blocked) {
    throw new PermissionDeniedError(`pulling "${name}" is refused: registry "${registry.prefix}" is blocked by ${registry.source}`);
  }
  const digested = canonical.digest !== null;
  const mirrors = registry.mirrors.filter((mirror) =>
    registry.mirrorByDigestOnly ? digested : mirror.pullFromMirror === 'all' || (mirror.pullFromMirror === 'digest-only') === digested,
  );
  // Locations are checked at load, so only an odd prefix and name combination can make this fail.
  const rewrite = (location: string): ImageReference => {
    const problem = (reason: string): InvalidArgumentError =>
      new InvalidArgumentError(`${registry.source}: prefix "${registry.prefix}" rewrites "${name}": ${reason}`);
    const parsed = parseOrThrow(() => parseReference(location + name.slice(end)), problem);
    if (parsed.kind !== 'qualified') throw problem('the result names no registry');
    return parsed.reference;
  };
  return [
    ...mirrors.map((mirror) => ({
      reference: rewrite(mirror.location),
      canonical,
      insecure: mirror.insecure,
      mirror: true,
    })),
    {
      reference: registry.location === null ? canonical : rewrite(registry.location),
      canonical,
      insecure: registry.insecure,
      mirror: false,
    },
  ];
}

/**
 * The [[registry]] whose prefix matches `name` longest, and where in `name`
 * the match ends. A prefix matches whole components only; a host-only
 * prefix does not match the same host with a port; a wildcard matches
 * subdomains, never the bare domain, and loses a tie to an exact prefix.
 */
function findRegistry(config: RegistriesConfig, name: string): { registry: RegistryConfig; end: number } | null {
  let best: { registry: RegistryConfig; end: number } | null = null;
  const better = (registry: RegistryConfig): boolean =>
    best === null ||
    registry.prefix.length > best.registry.prefix.length ||
    (registry.prefix.length === best.registry.prefix.length && best.registry.prefix.startsWith('*.'));
  for (const registry of config.registries) {
    const end = matchEnd(name, registry.prefix);
    if (end !== -1 && better(registry)) best = { registry, end };
  }
  return best;
}

function matchEnd(name: string, prefix: string): number {
  const hostEnd = name.indexOf('/');
  const host = name.slice(0, hostEnd);
  if (prefix.startsWith('*.')) {
    const hostname = host.replace(/:[0-9]+$/, '');
    return hostname.endsWith(prefix.slice(1)) ? hostname.length : -1;
  }
  if (name === prefix) return prefix.length;
  if (!name.startsWith(prefix)) return -1;
  const next = name[prefix.length];
  if (next === '/' || next === '@' || (next === ':' && prefix.length > hostEnd)) return prefix.length;
  return -1;
}
