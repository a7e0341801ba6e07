import { InvalidArgumentError } from '../errors.js';
import { digestProblem, type Digest } from './digest.js';

/**
 * Image references, parsed and normalized by the docker/distribution grammar
 * (`[registry[:port]/]path[:tag][@digest]`), which is what the kubelet sends
 * and what `crictl` users type.
 *
 * A name whose first component has a `.` or a `:` or is `localhost` is fully
 * qualified; any other is a short name, which only the registries
 * configuration can place (see registries-conf.ts), so the parser keeps the
 * two apart instead of silently assuming Docker Hub. Qualified references
 * are normalized as Docker does (`index.docker.io` → `docker.io`,
 * `docker.io/busybox` → `docker.io/library/busybox`) and get the tag
 * `latest` when they name neither tag nor digest. The canonical string
 * (`docker.io/library/busybox:latest`) is what the CRI reports as a repo tag,
 * as containerd does.
 */

export interface ImageReference {
  /** `host[:port]`: `docker.io`, `localhost:5000`, `[::1]:5000`. */
  readonly registry: string;
  /** The repository path inside the registry: `library/busybox`. */
  readonly repository: string;
  /** Null only when the reference names a digest and no tag. */
  readonly tag: string | null;
  readonly digest: Digest | null;
}

/** A name as the user wrote it, without a registry. */
export interface ShortName {
  readonly repository: string;
  readonly tag: string | null;
  readonly digest: Digest | null;
}

export type ParsedReference =
  { readonly kind: 'qualified'; readonly reference: ImageReference } | { readonly kind: 'short'; readonly name: ShortName };

/** A repository named without tag or digest, as registries.conf aliases are. */
export type ParsedRepository =
  { readonly kind: 'qualified'; readonly registry: string; readonly repository: string } | { readonly kind: 'short'; readonly repository: string };

export const DOCKER_HUB = 'docker.io';
const LEGACY_DOCKER_HUB = 'index.docker.io';
const MAX_NAME_LENGTH = 255;
const MAX_TAG_LENGTH = 128;

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const REGISTRY_HOST = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::([0-9]+))?$`);
const MAX_PORT = 65535;
const TAG = /^\w[\w.-]*$/;
const IMAGE_ID = /^[a-f0-9]{64}$/;

/** `host[:port]` that a reference would take for a registry: with a dot or a port, or `localhost`. */
export function isRegistryHost(text: string): boolean {
  return REGISTRY_HOST.test(text) && namesRegistry(text) && portProblem(text) === null;
}

/** A URL cannot hold a port out of range: taken here, it would fail deep in a pull as "Invalid URL". */
function portProblem(host: string): string | null {
  const port = REGISTRY_HOST.exec(host)?.[1];
  if (port === undefined) return null;
  const number = Number(port);
  return number >= 1 && number <= MAX_PORT ? null : `port ${number} is not 1 to ${MAX_PORT}`;
}

/** Whether a name's first component names a registry rather than a path. */
function namesRegistry(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

interface Parts {
  readonly registry: string | null;
  readonly repository: string;
  readonly tag: string | null;
  readonly digest: Digest | null;
}

function splitReference(text: string): Parts {
  const fail = (problem: string): never => {
    throw new InvalidArgumentError(`invalid reference "${text}": ${problem}`);
  };
  if (text === '') fail('empty reference');

  let name = text;
  let digest: Digest | null = null;
  const at = text.indexOf('@');
  if (at !== -1) {
    const digestText = text.slice(at + 1);
    const problem = digestProblem(digestText);
    if (problem !== null) fail(`invalid digest: ${problem}`);
    digest = digestText as Digest;
    name = text.slice(0, at);
  }

  let tag: string | null = null;
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
    if (!TAG.test(tag)) fail(`invalid tag "${tag}"`);
    if (tag.length > MAX_TAG_LENGTH) fail(`tag too long (at most ${MAX_TAG_LENGTH} characters)`);
  }

  if (name === '') fail('missing repository name');
  if (name.length > MAX_NAME_LENGTH) fail(`repository name longer than ${MAX_NAME_LENGTH} characters`);

  const slash = name.indexOf('/');
  const first = slash === -1 ? name : name.slice(0, slash);
  const registry = slash !== -1 && namesRegistry(first) ? first : null;
  const repository = registry === null ? name : name.slice(slash + 1);
  if (registry !== null && !isRegistryHost(registry)) {
    const problem = portProblem(registry);
    fail(`invalid registry host "${registry}"${problem === null ? '' : `: ${problem}`}`);
  }
  if (registry === null && IMAGE_ID.test(repository)) {
    fail('a 64-digit hex string is an image ID, not a repository name');
  }
  for (const component of repository.split('/')) {
    if (PATH_COMPONENT.test(component)) continue;
    if (PATH_COMPONENT.test(component.toLowerCase())) fail('repository name must be lowercase');
    fail(component === '' ? 'empty path component' : `invalid path component "${component}"`);
  }
  return { registry, repository, tag, digest };
}

/** Docker Hub's aliases and its implicit `library/` namespace. */
function normalize(registry: string, repository: string): { registry: string; repository: string } {
  const hub = registry === LEGACY_DOCKER_HUB ? DOCKER_HUB : registry;
  const official = hub === DOCKER_HUB && !repository.includes('/');
  return { registry: hub, repository: official ? `library/${repository}` : repository };
}

/** Throws InvalidArgumentError naming the problem. */
export function parseReference(text: string): ParsedReference {
  const { registry, repository, digest, ...rest } = splitReference(text);
  const tag = rest.tag ?? (digest === null ? 'latest' : null);
  if (registry === null) return { kind: 'short', name: { repository, tag, digest } };
  return { kind: 'qualified', reference: { ...normalize(registry, repository), tag, digest } };
}

/** Throws InvalidArgumentError, also when `text` has a tag or a digest. */
export function parseRepository(text: string): ParsedRepository {
  const { registry, repository, tag, digest } = splitReference(text);
  if (tag !== null || digest !== null) {
    throw new InvalidArgumentError(`invalid repository "${text}": must not contain a tag or digest`);
  }
  if (registry === null) return { kind: 'short', repository };
  return { kind: 'qualified', ...normalize(registry, repository) };
}

/** The short name as if it had been written under `registry`. */
export function qualify(name: ShortName, registry: string): ImageReference {
  return { ...normalize(registry, name.repository), tag: name.tag, digest: name.digest };
}

/** `docker.io/library/busybox`: the repository with its registry. */
export function referenceName(reference: ImageReference): string {
  return `${reference.registry}/${reference.repository}`;
}

/** `docker.io/library/busybox:latest`: canonical and fully qualified, as the CRI reports repo tags. */
export function referenceString(reference: ImageReference): string {
  return `${referenceName(reference)}${suffix(reference)}`;
}

/** `busybox:latest`: the short form Docker shows for Docker Hub images; other registries stay qualified. */
export function familiarString(reference: ImageReference): string {
  if (reference.registry !== DOCKER_HUB) return referenceString(reference);
  const official = /^library\/[^/]+$/.test(reference.repository);
  return `${official ? reference.repository.slice('library/'.length) : reference.repository}${suffix(reference)}`;
}

/** The short name as written, for messages. */
export function shortNameString(name: ShortName): string {
  return `${name.repository}${suffix(name)}`;
}

function suffix({ tag, digest }: { tag: string | null; digest: Digest | null }): string {
  return `${tag === null ? '' : `:${tag}`}${digest === null ? '' : `@${digest}`}`;
}
