import test from 'ava';
import { InvalidArgumentError, NotFoundError } from '../../src/errors.js';
import { digestOf } from '../../src/image/digest.js';
import {
  hostPlatform,
  layerCompression,
  MediaType,
  parseImageConfig,
  parseManifest,
  selectPlatform,
  type Descriptor,
  type ImageIndex,
  type Platform,
} from '../../src/image/manifest.js';

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const descriptor = (mediaType: string, content: string, extra: object = {}) => ({
  mediaType,
  digest: digestOf(content),
  size: Buffer.byteLength(content),
  ...extra,
});

const ociManifest = {
  schemaVersion: 2,
  mediaType: MediaType.ociManifest,
  config: descriptor(MediaType.ociConfig, '{}'),
  layers: [descriptor(MediaType.ociLayerGzip, 'layer0'), descriptor(MediaType.ociLayerZstd, 'layer1')],
  annotations: { 'org.opencontainers.image.ref.name': 'v1' },
};

test('an OCI image manifest', (t) => {
  const parsed = parseManifest(json(ociManifest), MediaType.ociManifest);
  if (parsed.kind !== 'manifest') return t.fail();
  t.is(parsed.mediaType, MediaType.ociManifest);
  t.is(parsed.config.digest, digestOf('{}'));
  t.deepEqual(
    parsed.layers.map((layer) => [layer.mediaType, layer.size, layer.platform]),
    [
      [MediaType.ociLayerGzip, 6, null],
      [MediaType.ociLayerZstd, 6, null],
    ],
  );
  t.deepEqual(parsed.annotations, { 'org.opencontainers.image.ref.name': 'v1' });
});

test('a Docker schema 2 manifest', (t) => {
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.dockerManifest,
    config: descriptor(MediaType.dockerConfig, '{}'),
    layers: [descriptor(MediaType.dockerLayerGzip, 'l')],
  };
  const parsed = parseManifest(json(manifest), 'application/json');
  t.is(parsed.kind, 'manifest');
  t.is(parsed.mediaType, MediaType.dockerManifest);
});

test('the media type comes from the document, then the Content-Type, then the shape', (t) => {
  const { mediaType: _, ...untyped } = ociManifest;
  t.is(parseManifest(json(untyped), `${MediaType.dockerManifest}; charset=utf-8`).mediaType, MediaType.dockerManifest);
  t.is(parseManifest(json(untyped), 'text/plain').mediaType, MediaType.ociManifest);
  t.is(parseManifest(json({ schemaVersion: 2, manifests: [] }), null).kind, 'index');
});

test('schema 1 is refused by name, whether typed or only shaped so', (t) => {
  const message = 'Docker schema 1 manifests are not supported; re-push the image with a current client';
  const schema1 = { schemaVersion: 1, name: 'library/busybox', tag: 'latest', fsLayers: [] };
  for (const [body, type] of [
    [schema1, MediaType.dockerSchema1Signed],
    [schema1, 'application/json'],
    [{ ...schema1, schemaVersion: 2 }, MediaType.dockerSchema1],
  ] as const) {
    const error = t.throws(() => parseManifest(json(body), type), { instanceOf: InvalidArgumentError });
    t.is(error.message, message);
  }
});

test('malformed manifests name the field', (t) => {
  const cases: ReadonlyArray<readonly [unknown, string]> = [
    [{ ...ociManifest, schemaVersion: 3 }, 'invalid manifest: schemaVersion must be 2'],
    [{ ...ociManifest, layers: {} }, 'invalid manifest: layers must be an array'],
    [
      { ...ociManifest, layers: [{ ...ociManifest.layers[0], digest: 'sha256:xyz' }] },
      'invalid manifest: layers[0].digest a sha256 digest has exactly 64 lowercase hex digits',
    ],
    [{ ...ociManifest, config: { ...ociManifest.config, size: -1 } }, 'invalid manifest: config.size must be a non-negative integer'],
    [
      { ...ociManifest, config: descriptor('application/vnd.cncf.helm.config.v1+json', '{}') },
      'not a container image: its config has media type "application/vnd.cncf.helm.config.v1+json" (an OCI artifact?)',
    ],
    [
      { ...ociManifest, layers: [descriptor('application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', 'w')] },
      'layer media type "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" is a foreign (non-distributable) ' +
        'layer, which crion does not fetch',
    ],
    [
      { ...ociManifest, mediaType: 'application/vnd.oci.artifact.manifest.v1+json' },
      'unsupported manifest media type "application/vnd.oci.artifact.manifest.v1+json"',
    ],
    [{ schemaVersion: 2 }, 'unsupported manifest: it names no media type and has no manifests or layers'],
    [[1, 2], 'invalid manifest: not a JSON object'],
  ];
  for (const [body, message] of cases) {
    const error = t.throws(() => parseManifest(json(body), null), { instanceOf: InvalidArgumentError });
    t.is(error.message, message);
  }
  t.throws(() => parseManifest(Buffer.from('{'), null), { message: /^invalid manifest: not JSON/ });
});

test('layer compression follows the media type', (t) => {
  t.is(layerCompression(MediaType.ociLayer), 'none');
  t.is(layerCompression(MediaType.ociLayerGzip), 'gzip');
  t.is(layerCompression(MediaType.ociLayerZstd), 'zstd');
  t.is(layerCompression(MediaType.dockerLayerGzip), 'gzip');
  t.is(layerCompression(MediaType.dockerLayer), 'none');
  t.throws(() => layerCompression('application/vnd.oci.image.layer.nondistributable.v1.tar+gzip'), {
    message: /foreign \(non-distributable\)/,
  });
  t.throws(() => layerCompression('application/vnd.oci.image.layer.v1.tar+gzip+encrypted'), {
    message: 'layer media type "application/vnd.oci.image.layer.v1.tar+gzip+encrypted" is not supported',
  });
});

function index(platforms: ReadonlyArray<Partial<Platform> | null>): ImageIndex {
  const manifests = platforms.map((platform, i) => descriptor(MediaType.ociManifest, `manifest ${i}`, platform === null ? {} : { platform }));
  const parsed = parseManifest(json({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }), null);
  if (parsed.kind !== 'index') throw new Error('expected an index');
  return parsed;
}

function entry(parsed: ImageIndex, i: number): Descriptor {
  const found = parsed.manifests[i];
  if (found === undefined) throw new Error(`no entry ${i}`);
  return found;
}

const amd64: Platform = { os: 'linux', architecture: 'amd64', variant: null };
const arm64: Platform = { os: 'linux', architecture: 'arm64', variant: 'v8' };
const armv7: Platform = { os: 'linux', architecture: 'arm', variant: 'v7' };

test('selectPlatform picks the entry for the platform', (t) => {
  const multi = index([
    { os: 'linux', architecture: 'arm', variant: 'v6' },
    { os: 'linux', architecture: 'arm', variant: 'v7' },
    { os: 'linux', architecture: 'arm64' },
    { os: 'linux', architecture: 'amd64' },
    { os: 'windows', architecture: 'amd64' },
    { os: 'unknown', architecture: 'unknown' },
  ]);
  t.is(selectPlatform(multi, amd64), entry(multi, 3));
  t.is(selectPlatform(multi, arm64), entry(multi, 2), 'an arm64 entry without variant is v8');
  t.is(selectPlatform(multi, armv7), entry(multi, 1), 'the exact arm variant beats an older one');
  t.is(selectPlatform(multi, { ...armv7, variant: 'v6' }), entry(multi, 0), 'a v6 host cannot run v7');
});

test('an older arm variant serves a newer arm host', (t) => {
  const older = index([{ os: 'linux', architecture: 'arm', variant: 'v5' }]);
  t.is(selectPlatform(older, armv7), entry(older, 0));
});

test('an entry without a platform is the last resort', (t) => {
  const mixed = index([null, { os: 'linux', architecture: 'amd64' }]);
  t.is(selectPlatform(mixed, amd64), entry(mixed, 1));
  t.is(selectPlatform(mixed, arm64), entry(mixed, 0));
});

test('no match is NotFound, listing what the index offers', (t) => {
  const other = index([
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
    { os: 'linux', architecture: 'arm', variant: 'v7' },
    { os: 'unknown', architecture: 'unknown' },
  ]);
  const error = t.throws(() => selectPlatform(other, amd64), { instanceOf: NotFoundError });
  t.is(error.message, 'the image has no manifest for linux/amd64; it offers linux/arm64/v8, linux/arm/v7');
  t.throws(() => selectPlatform(index([]), amd64), {
    message: 'the image has no manifest for linux/amd64; its index lists no platforms',
  });
});

test('hostPlatform maps Node architectures to GOARCH', (t) => {
  const platform = hostPlatform();
  t.is(platform.os, 'linux');
  const expected: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm' };
  t.is(platform.architecture, expected[process.arch] ?? platform.architecture);
  if (process.arch === 'x64') t.is(platform.variant, null);
});

test('an image config', (t) => {
  const diffId = digestOf('layer');
  const config = parseImageConfig(
    json({
      architecture: 'amd64',
      os: 'linux',
      created: '2024-01-01T00:00:00Z',
      config: {
        User: '1000:1000',
        Env: ['PATH=/usr/bin'],
        Entrypoint: ['/entry'],
        Cmd: null,
        WorkingDir: '/work',
        Labels: { a: 'b' },
        StopSignal: 'SIGQUIT',
        ExposedPorts: { '80/tcp': {}, '53/udp': {} },
        Volumes: { '/data': {} },
      },
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [
        { created_by: 'ADD file', empty_layer: false },
        { created_by: 'CMD', empty_layer: true },
      ],
    }),
  );
  t.deepEqual(config, {
    architecture: 'amd64',
    os: 'linux',
    variant: null,
    created: '2024-01-01T00:00:00Z',
    config: {
      user: '1000:1000',
      env: ['PATH=/usr/bin'],
      entrypoint: ['/entry'],
      cmd: null,
      workingDir: '/work',
      labels: { a: 'b' },
      stopSignal: 'SIGQUIT',
      exposedPorts: ['80/tcp', '53/udp'],
      volumes: ['/data'],
    },
    diffIds: [diffId],
    history: [
      { created: null, createdBy: 'ADD file', comment: null, emptyLayer: false },
      { created: null, createdBy: 'CMD', comment: null, emptyLayer: true },
    ],
  });
});

test('an image config without a config object gets empty defaults', (t) => {
  const config = parseImageConfig(json({ architecture: 'arm64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  t.deepEqual(config.config, {
    user: '',
    env: [],
    entrypoint: null,
    cmd: null,
    workingDir: '',
    labels: {},
    stopSignal: null,
    exposedPorts: [],
    volumes: [],
  });
  t.deepEqual(config.history, []);
});

test('a malformed image config names the field', (t) => {
  const base = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } };
  const cases: ReadonlyArray<readonly [unknown, string]> = [
    [{ ...base, rootfs: { type: 'other', diff_ids: [] } }, 'invalid image config: rootfs.type must be "layers"'],
    [
      { ...base, rootfs: { type: 'layers', diff_ids: ['x'] } },
      'invalid image config: rootfs.diff_ids[0] expected "sha256:" followed by 64 hex digits',
    ],
    [{ ...base, config: { Env: 'A=1' } }, 'invalid image config: config.Env must be a list of strings'],
    [{ ...base, config: { Labels: { a: 1 } } }, 'invalid image config: config.Labels must map strings to strings'],
    [{ ...base, os: '' }, 'invalid image config: os must be a non-empty string'],
  ];
  for (const [body, message] of cases) {
    t.throws(() => parseImageConfig(json(body)), { instanceOf: InvalidArgumentError, message });
  }
});
