import test from 'ava';
import { InvalidArgumentError } from '../../src/errors.js';
import type { Digest } from '../../src/image/digest.js';
import {
  familiarString,
  parseReference,
  parseRepository,
  qualify,
  referenceName,
  referenceString,
  shortNameString,
} from '../../src/image/reference.js';

const DIGEST: Digest = `sha256:${'a'.repeat(64)}`;

/** Test titles stay readable with digests and 200-character names in the inputs. */
const title = (input: string): string => (input.length > 48 ? `${input.slice(0, 45)}...` : input);

const qualified: ReadonlyArray<readonly [string, string]> = [
  ['docker.io/busybox', 'docker.io/library/busybox:latest'],
  ['docker.io/library/busybox:1.36', 'docker.io/library/busybox:1.36'],
  ['index.docker.io/busybox', 'docker.io/library/busybox:latest'],
  ['docker.io/myorg/app:v1', 'docker.io/myorg/app:v1'],
  ['registry.k8s.io/pause:3.10', 'registry.k8s.io/pause:3.10'],
  ['quay.io/a/b/c', 'quay.io/a/b/c:latest'],
  ['localhost/app', 'localhost/app:latest'],
  ['localhost:5000/app:dev', 'localhost:5000/app:dev'],
  ['127.0.0.1:5000/team/app', '127.0.0.1:5000/team/app:latest'],
  ['[::1]:5000/app:1', '[::1]:5000/app:1'],
  ['[fe80::1]/app', '[fe80::1]/app:latest'],
  ['Registry.Example.COM/app', 'Registry.Example.COM/app:latest'],
  [`example.com/app@${DIGEST}`, `example.com/app@${DIGEST}`],
  [`example.com/app:1.0@${DIGEST}`, `example.com/app:1.0@${DIGEST}`],
  ['example.com/a_b/c__d/e-f/g--h/i.j:T_1.x-y', 'example.com/a_b/c__d/e-f/g--h/i.j:T_1.x-y'],
];

for (const [input, canonical] of qualified) {
  test(`"${title(input)}" is qualified`, (t) => {
    const parsed = parseReference(input);
    if (parsed.kind !== 'qualified') return t.fail(`parsed as ${parsed.kind}`);
    t.is(referenceString(parsed.reference), canonical);
  });
}

test('the parts of a qualified reference', (t) => {
  t.deepEqual(parseReference(`localhost:5000/team/app:1@${DIGEST}`), {
    kind: 'qualified',
    reference: { registry: 'localhost:5000', repository: 'team/app', tag: '1', digest: DIGEST },
  });
  t.deepEqual(parseReference(`[::1]:5000/app@${DIGEST}`), {
    kind: 'qualified',
    reference: { registry: '[::1]:5000', repository: 'app', tag: null, digest: DIGEST },
  });
});

const short: ReadonlyArray<readonly [string, string, string | null]> = [
  ['busybox', 'busybox', 'latest'],
  ['busybox:1.36', 'busybox', '1.36'],
  ['library/busybox', 'library/busybox', 'latest'],
  ['myorg/app:v1', 'myorg/app', 'v1'],
  // Without a slash the first component is a path even if it looks like a host.
  ['localhost', 'localhost', 'latest'],
  ['example.com', 'example.com', 'latest'],
  ['localhost:5000', 'localhost', '5000'],
  [`app@${DIGEST}`, 'app', null],
];

for (const [input, repository, tag] of short) {
  test(`"${title(input)}" is a short name`, (t) => {
    const parsed = parseReference(input);
    if (parsed.kind !== 'short') return t.fail(`parsed as ${parsed.kind}`);
    t.is(parsed.name.repository, repository);
    t.is(parsed.name.tag, tag);
  });
}

const invalid: ReadonlyArray<readonly [string, string]> = [
  ['', 'empty reference'],
  ['Busybox', 'repository name must be lowercase'],
  ['docker.io/Library/busybox', 'repository name must be lowercase'],
  ['MyOrg/app', 'repository name must be lowercase'],
  ['busybox:', 'invalid tag ""'],
  ['busybox:-x', 'invalid tag "-x"'],
  [`busybox:${'t'.repeat(129)}`, 'tag too long (at most 128 characters)'],
  ['busybox@sha256:abc', 'invalid digest: a sha256 digest has exactly 64 lowercase hex digits'],
  [`busybox@sha256:${'A'.repeat(64)}`, 'invalid digest: a sha256 digest has exactly 64 lowercase hex digits'],
  [`busybox@sha512:${'a'.repeat(128)}`, 'invalid digest: digest algorithm "sha512" is not supported; crion verifies sha256 only'],
  ['busybox@latest', 'invalid digest: expected "sha256:" followed by 64 hex digits'],
  ['example.com/app-', 'invalid path component "app-"'],
  ['example.com//app', 'empty path component'],
  ['example.com/', 'empty path component'],
  ['-bad.example.com/app', 'invalid registry host "-bad.example.com"'],
  ['::1/app', 'invalid registry host "::1"'],
  // A URL cannot hold these ports: once taken, they failed deep in the pull as "Invalid URL".
  ['127.0.0.1:99999/x:1', 'invalid registry host "127.0.0.1:99999": port 99999 is not 1 to 65535'],
  ['localhost:0/x', 'invalid registry host "localhost:0": port 0 is not 1 to 65535'],
  [':tag', 'missing repository name'],
  ['a'.repeat(64), 'a 64-digit hex string is an image ID, not a repository name'],
  [`example.com/${'a'.repeat(250)}`, 'repository name longer than 255 characters'],
  ['busy box', 'invalid path component "busy box"'],
];

for (const [input, problem] of invalid) {
  test(`"${title(input)}" is refused: ${problem}`, (t) => {
    const error = t.throws(() => parseReference(input), { instanceOf: InvalidArgumentError });
    t.is(error.message, `invalid reference "${input}": ${problem}`);
  });
}

test('a tag of exactly 128 characters is accepted', (t) => {
  const parsed = parseReference(`example.com/app:${'t'.repeat(128)}`);
  t.is(parsed.kind, 'qualified');
});

test('qualify places a short name under a registry, adding library/ only on Docker Hub', (t) => {
  const parsed = parseReference('busybox:1');
  if (parsed.kind !== 'short') return t.fail();
  t.is(referenceString(qualify(parsed.name, 'docker.io')), 'docker.io/library/busybox:1');
  t.is(referenceString(qualify(parsed.name, 'quay.io')), 'quay.io/busybox:1');
  t.is(shortNameString(parsed.name), 'busybox:1');
});

test('string forms: canonical, name and familiar', (t) => {
  const hub = { registry: 'docker.io', repository: 'library/busybox', tag: 'latest', digest: null };
  t.is(referenceName(hub), 'docker.io/library/busybox');
  t.is(familiarString(hub), 'busybox:latest');
  t.is(familiarString({ ...hub, repository: 'myorg/app' }), 'myorg/app:latest');
  t.is(familiarString({ ...hub, repository: 'library/a/b' }), 'library/a/b:latest');
  t.is(familiarString({ ...hub, registry: 'quay.io' }), 'quay.io/library/busybox:latest');
  t.is(referenceString({ ...hub, tag: null, digest: DIGEST }), `docker.io/library/busybox@${DIGEST}`);
});

test('parseRepository refuses tags and digests, and keeps short names short', (t) => {
  t.deepEqual(parseRepository('busybox'), { kind: 'short', repository: 'busybox' });
  t.deepEqual(parseRepository('docker.io/busybox'), {
    kind: 'qualified',
    registry: 'docker.io',
    repository: 'library/busybox',
  });
  const error = t.throws(() => parseRepository('quay.io/app:1'), { instanceOf: InvalidArgumentError });
  t.is(error.message, 'invalid repository "quay.io/app:1": must not contain a tag or digest');
});
