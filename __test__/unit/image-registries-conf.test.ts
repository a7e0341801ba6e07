import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { ConfigError } from '../../src/config/config-error.js';
import { InvalidArgumentError, PermissionDeniedError } from '../../src/errors.js';
import { parseReference, referenceString } from '../../src/image/reference.js';
import {
  loadRegistriesConfig,
  resolvePullCandidates,
  shortNameCandidates,
  type PullCandidate,
  type RegistriesConfig,
} from '../../src/image/registries-conf.js';

const DIGEST = `sha256:${'d'.repeat(64)}`;

/** Writes registries.conf (unless null) and registries.conf.d/<name> into a fresh directory. */
async function load(t: ExecutionContext, main: string | null, dropIns: Readonly<Record<string, string>> = {}): Promise<RegistriesConfig> {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-registries-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'registries.conf');
  const dropInDir = path.join(dir, 'registries.conf.d');
  if (main !== null) await writeFile(file, main);
  await mkdir(dropInDir);
  for (const [name, text] of Object.entries(dropIns)) await writeFile(path.join(dropInDir, name), text);
  return loadRegistriesConfig({ file, dir: dropInDir });
}

/** Candidates as `reference [mirror] [insecure]` strings, easy to compare. */
function candidates(config: RegistriesConfig, image: string): string[] {
  return resolvePullCandidates(config, parseReference(image)).map(describe);
}

function describe(candidate: PullCandidate): string {
  const flags = [candidate.mirror ? 'mirror' : '', candidate.insecure ? 'insecure' : ''].filter((f) => f !== '');
  return [referenceString(candidate.reference), ...flags].join(' ');
}

test('no files: qualified names as written, short names on docker.io', async (t) => {
  const config = await load(t, null);
  t.deepEqual(config.files, []);
  t.deepEqual(config.unqualifiedSearchRegistries, ['docker.io']);
  t.is(config.searchRegistriesSource, null);
  t.is(config.shortNameMode, 'permissive');
  t.deepEqual(candidates(config, 'quay.io/app:1'), ['quay.io/app:1']);
  t.deepEqual(candidates(config, 'busybox'), ['docker.io/library/busybox:latest']);
  const [candidate] = resolvePullCandidates(config, parseReference('busybox'));
  t.is(candidate && referenceString(candidate.canonical), 'docker.io/library/busybox:latest');
});

test('loopback registries are not insecure unless configured', async (t) => {
  const config = await load(t, null);
  const [candidate] = resolvePullCandidates(config, parseReference('localhost:5000/app'));
  t.false(candidate?.insecure);
});

test('mirrors come first, then the location, rewritten under the prefix', async (t) => {
  const config = await load(
    t,
    `
[[registry]]
prefix = "example.com/foo"
location = "internal.example.net/bar"

[[registry.mirror]]
location = "mirror-0.local/mirror-for-foo"

[[registry.mirror]]
location = "mirror-1.local:5000/mirrors/foo"
insecure = true
`,
  );
  t.deepEqual(candidates(config, 'example.com/foo/image:latest'), [
    'mirror-0.local/mirror-for-foo/image:latest mirror',
    'mirror-1.local:5000/mirrors/foo/image:latest mirror insecure',
    'internal.example.net/bar/image:latest',
  ]);
  const all = resolvePullCandidates(config, parseReference('example.com/foo/image'));
  t.true(all.every((c) => referenceString(c.canonical) === 'example.com/foo/image:latest'));
  t.deepEqual(candidates(config, 'example.com/foobar/image'), ['example.com/foobar/image:latest']);
  t.deepEqual(candidates(config, 'example.com/foo'), [
    'mirror-0.local/mirror-for-foo:latest mirror',
    'mirror-1.local:5000/mirrors/foo:latest mirror insecure',
    'internal.example.net/bar:latest',
  ]);
});

test('Docker Hub mirrors see the library/ path', async (t) => {
  const config = await load(
    t,
    `
[[registry]]
location = "docker.io"
[[registry.mirror]]
location = "mirror.gcr.io"
`,
  );
  t.deepEqual(candidates(config, 'busybox'), ['mirror.gcr.io/library/busybox:latest mirror', 'docker.io/library/busybox:latest']);
});

test('the longest prefix wins; a host prefix does not match another port', async (t) => {
  const config = await load(
    t,
    `
[[registry]]
location = "example.com"
insecure = true

[[registry]]
prefix = "example.com/team"
location = "team.example.com"

[[registry]]
prefix = "example.com/team/app:pinned"
location = "pinned.example.com/app"
`,
  );
  t.deepEqual(candidates(config, 'example.com/other'), ['example.com/other:latest insecure']);
  t.deepEqual(candidates(config, 'example.com/team/app:1'), ['team.example.com/app:1']);
  t.deepEqual(candidates(config, 'example.com/team/app:pinned'), ['pinned.example.com/app:latest']);
  t.deepEqual(candidates(config, 'example.com:5000/app'), ['example.com:5000/app:latest']);
});

test('wildcard prefixes match subdomains only, and lose a tie to an exact prefix', async (t) => {
  const config = await load(
    t,
    `
[[registry]]
prefix = "*.example.com"
insecure = true

[[registry]]
prefix = "a.example.com"
location = "a.example.com"
blocked = true
`,
  );
  t.deepEqual(candidates(config, 'b.example.com/app'), ['b.example.com/app:latest insecure']);
  t.deepEqual(candidates(config, 'x.y.example.com:5000/app'), ['x.y.example.com:5000/app:latest insecure']);
  t.deepEqual(candidates(config, 'example.com/app'), ['example.com/app:latest']);
  t.throws(() => candidates(config, 'a.example.com/app'), { instanceOf: PermissionDeniedError });
});

test('blocked registries are refused, naming the file', async (t) => {
  const config = await load(t, '[[registry]]\nlocation = "evil.example.com"\nblocked = true\n');
  const error = t.throws(() => candidates(config, 'evil.example.com/app'), { instanceOf: PermissionDeniedError });
  t.is(error.message, `pulling "evil.example.com/app:latest" is refused: registry "evil.example.com" is blocked by ${config.files[0]}`);
});

test('pull-from-mirror and mirror-by-digest-only decide which mirrors a reference uses', async (t) => {
  const config = await load(
    t,
    `
[[registry]]
location = "one.example.com"
[[registry.mirror]]
location = "all.local"
[[registry.mirror]]
location = "digest.local"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "tag.local"
pull-from-mirror = "tag-only"

[[registry]]
location = "two.example.com"
mirror-by-digest-only = true
[[registry.mirror]]
location = "pinned.local"
`,
  );
  t.deepEqual(candidates(config, 'one.example.com/app:1'), ['all.local/app:1 mirror', 'tag.local/app:1 mirror', 'one.example.com/app:1']);
  t.deepEqual(candidates(config, `one.example.com/app@${DIGEST}`), [
    `all.local/app@${DIGEST} mirror`,
    `digest.local/app@${DIGEST} mirror`,
    `one.example.com/app@${DIGEST}`,
  ]);
  t.deepEqual(candidates(config, 'two.example.com/app:1'), ['two.example.com/app:1']);
  t.deepEqual(candidates(config, `two.example.com/app:1@${DIGEST}`), [`pinned.local/app:1@${DIGEST} mirror`, `two.example.com/app:1@${DIGEST}`]);
});

test('short names: an alias wins, then each search registry in order', async (t) => {
  const config = await load(
    t,
    `
unqualified-search-registries = ["registry.fedoraproject.org", "quay.io", "docker.io"]
short-name-mode = "permissive"
[aliases]
"fedora" = "registry.fedoraproject.org/fedora"
"myorg/app" = "ghcr.io/myorg/app"
`,
  );
  t.deepEqual(candidates(config, 'fedora:39'), ['registry.fedoraproject.org/fedora:39']);
  t.deepEqual(candidates(config, `myorg/app@${DIGEST}`), [`ghcr.io/myorg/app@${DIGEST}`]);
  t.deepEqual(candidates(config, 'busybox'), [
    'registry.fedoraproject.org/busybox:latest',
    'quay.io/busybox:latest',
    'docker.io/library/busybox:latest',
  ]);
  const parsed = parseReference('busybox');
  if (parsed.kind !== 'short') return t.fail();
  t.deepEqual(shortNameCandidates(config, parsed.name).map(referenceString), [
    'registry.fedoraproject.org/busybox:latest',
    'quay.io/busybox:latest',
    'docker.io/library/busybox:latest',
  ]);
});

test('enforcing refuses an ambiguous short name, listing the candidates', async (t) => {
  const config = await load(
    t,
    `
unqualified-search-registries = ["quay.io", "docker.io"]
short-name-mode = "enforcing"
[aliases]
"a" = "quay.io/a"
`,
  );
  const error = t.throws(() => candidates(config, 'busybox:1'), { instanceOf: InvalidArgumentError });
  t.is(
    error.message,
    'short name "busybox:1" is ambiguous under short-name-mode "enforcing": it could be quay.io/busybox:1, ' +
      'docker.io/library/busybox:1; use a fully qualified name or add an [aliases] entry',
  );
  t.deepEqual(candidates(config, 'a'), ['quay.io/a:latest'], 'an alias is not ambiguous');
  const single = await load(t, 'unqualified-search-registries = ["quay.io"]\nshort-name-mode = "enforcing"\n');
  t.deepEqual(candidates(single, 'busybox'), ['quay.io/busybox:latest'], 'one search registry is not ambiguous');
});

test('an empty search list refuses short names', async (t) => {
  const config = await load(t, 'unqualified-search-registries = []\n');
  t.throws(() => candidates(config, 'busybox'), {
    instanceOf: InvalidArgumentError,
    message:
      `short name "busybox:latest" cannot be resolved: ${config.files[0]} sets no unqualified-search-registries; ` + 'use a fully qualified name',
  });
});

test('a short name skips blocked search registries, and is refused when all are', async (t) => {
  const blocked = '[[registry]]\nlocation = "bad.example.com"\nblocked = true\n';
  const config = await load(t, `unqualified-search-registries = ["bad.example.com", "docker.io"]\n${blocked}`);
  t.deepEqual(candidates(config, 'busybox'), ['docker.io/library/busybox:latest']);
  const all = await load(t, `unqualified-search-registries = ["bad.example.com"]\n${blocked}`);
  t.throws(() => candidates(all, 'busybox'), { instanceOf: PermissionDeniedError });
});

test('drop-ins: registries replaced by prefix, search replaced when set, aliases merged and erased', async (t) => {
  const config = await load(
    t,
    `
unqualified-search-registries = ["quay.io"]
short-name-mode = "enforcing"
[aliases]
"a" = "quay.io/a"
"b" = "quay.io/b"
[[registry]]
location = "example.com"
insecure = true
[[registry]]
location = "other.example.com"
blocked = true
`,
    {
      '10-first.conf': `
unqualified-search-registries = ["docker.io", "ghcr.io"]
[aliases]
"b" = ""
"c" = "ghcr.io/c"
[[registry]]
location = "example.com"
[[registry.mirror]]
location = "mirror.local"
`,
      '20-second.conf': 'short-name-mode = "disabled"\n',
      'ignored.conf.bak': 'not toml = [',
    },
  );
  t.is(config.files.length, 3);
  t.deepEqual(config.unqualifiedSearchRegistries, ['docker.io', 'ghcr.io']);
  t.true(config.searchRegistriesSource?.endsWith('10-first.conf'));
  t.is(config.shortNameMode, 'disabled');
  t.deepEqual([...config.aliases.keys()].sort(), ['a', 'c']);
  t.deepEqual(candidates(config, 'example.com/app'), ['mirror.local/app:latest mirror', 'example.com/app:latest']);
  t.throws(() => candidates(config, 'other.example.com/app'), { instanceOf: PermissionDeniedError });
  t.deepEqual(candidates(config, 'b'), ['docker.io/library/b:latest', 'ghcr.io/b:latest']);
});

const malformed: ReadonlyArray<readonly [string, string, string]> = [
  ['[registries.search]\nregistries = ["quay.io"]\n', 'registries', 'the version 1 format'],
  ['unknown-key = 1\n', 'unknown-key', 'unknown key'],
  ['credential-helpers = ["pass"]\n', 'credential-helpers', 'credential helpers are not supported'],
  ['short-name-mode = "prompt"\n', 'short-name-mode', 'must be one of enforcing, permissive, disabled, not "prompt"'],
  ['unqualified-search-registries = "quay.io"\n', 'unqualified-search-registries', 'must be a list of strings'],
  ['unqualified-search-registries = ["quay.io/ns"]\n', 'unqualified-search-registries[0]', 'is not a registry host'],
  ['[[registry]]\nprefix = "example.com"\n', 'registry[0].location', 'is required unless the prefix is a wildcard'],
  ['[[registry]]\ninsecure = true\n', 'registry[0]', 'sets neither prefix nor location'],
  ['[[registry]]\nlocation = "https://example.com"\n', 'registry[0].location', 'URL schemes are not supported'],
  ['[[registry]]\nlocation = "example.com"\nmirrors = []\n', 'registry[0].mirrors', 'unknown key'],
  ['[[registry]]\nlocation = "example.com"\ninsecure = "yes"\n', 'registry[0].insecure', 'must be true or false'],
  ['[[registry]]\nprefix = "*.example.com/ns"\n', 'registry[0].prefix', 'a wildcard is only allowed'],
  ['[[registry]]\nlocation = "*.example.com"\n', 'registry[0].location', 'a wildcard is only allowed'],
  ['[[registry]]\nlocation = "Example.com/Upper"\n', 'registry[0].location', 'repository name must be lowercase'],
  ['[[registry]]\nlocation = "noregistry"\n', 'registry[0].location', 'is not a registry host'],
  [
    '[[registry]]\nlocation = "a.example.com"\n[[registry]]\nlocation = "a.example.com"\n',
    'registry[1].prefix',
    'is already defined earlier in this file',
  ],
  ['[[registry]]\nlocation = "a.example.com"\n[[registry.mirror]]\ninsecure = true\n', 'registry[0].mirror[0].location', 'is required'],
  [
    '[[registry]]\nlocation = "a.example.com"\n[[registry.mirror]]\nlocation = "m.local"\npull-from-mirror = "never"\n',
    'registry[0].mirror[0].pull-from-mirror',
    'must be one of all, digest-only, tag-only',
  ],
  [
    '[[registry]]\nlocation = "a.example.com"\nmirror-by-digest-only = true\n' +
      '[[registry.mirror]]\nlocation = "m.local"\npull-from-mirror = "all"\n',
    'registry[0].mirror[0].pull-from-mirror',
    'cannot be combined with mirror-by-digest-only',
  ],
  ['[aliases]\n"quay.io/a" = "quay.io/a"\n', 'aliases."quay.io/a"', 'an alias name must be a short name'],
  ['[aliases]\n"a" = "a/b"\n', 'aliases.a', 'must be fully qualified'],
  ['[aliases]\n"a" = "quay.io/a:1"\n', 'aliases.a', 'must not contain a tag or digest'],
  ['[aliases]\n"a:1" = "quay.io/a"\n', 'aliases."a:1"', 'must not contain a tag or digest'],
];

for (const [text, key, reason] of malformed) {
  test(`malformed: ${key}: ${reason}`, async (t) => {
    const error = await t.throwsAsync(load(t, text), { instanceOf: ConfigError });
    t.true(error.source.endsWith('registries.conf'));
    t.is(error.key, key);
    t.true(error.reason.includes(reason), error.reason);
  });
}

test('a TOML syntax error names the drop-in file', async (t) => {
  const error = await t.throwsAsync(load(t, null, { '50-broken.conf': '[[registry]\n' }), { instanceOf: ConfigError });
  t.true(error.source.endsWith('50-broken.conf'));
  t.regex(error.message, /invalid TOML at line 1/);
});

test('version 1 is refused in drop-ins too', async (t) => {
  const error = await t.throwsAsync(load(t, null, { 'v1.conf': '[registries.block]\nregistries = ["x.io"]\n' }), {
    instanceOf: ConfigError,
  });
  t.is(error.key, 'registries');
});
