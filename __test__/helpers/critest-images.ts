/**
 * Stand-ins for the images critest (cri-tools v1.37.0) pulls, rebuilt from the
 * content of their Dockerfiles (cri-tools `images/`) on the busybox layer and
 * pushed under their upstream repository paths, so that a loopback registry can
 * serve them in place of gcr.io and registry.k8s.io. The images that run a real
 * program (nginx, hostnet-nginx, httpd, nonewprivs) run small static C programs
 * from __test__/fixtures/images/ that behave as critest's specs check.
 *
 * How critest must reach them. `--registry-prefix` does not work for the image
 * specs in v1.37.0: `framework.PrepareImageName` rewrites only the name given to
 * PullImage, and as `<prefix>/<reference.Path(name)>`, which drops the tag and
 * the digest (`gcr.io/k8s-staging-cri-tools/test-image-tag:test` becomes
 * `127.0.0.1:PORT/k8s-staging-cri-tools/test-image-tag`, i.e. `:latest`),
 * while ImageStatus, ListImages, RemoveImage and CreateContainer go on using the
 * original names. So critest runs with its default names and the runtime
 * resolves them through a mirror: `critestRegistriesConf(registry)` is a
 * containers-registries.conf(5) that sends gcr.io, registry.k8s.io and
 * k8s.gcr.io to the loopback registry, which has the same repository paths.
 */

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BUSYBOX_GROUP, BUSYBOX_PASSWD } from './busybox-rootfs.js';
import { dynamicBusyboxEntries } from './dynamic-busybox.js';
import { buildImage, buildIndex, buildLayer, type BuiltImage, type ContainerConfig, type Layer, type Platform } from './oci-image-builder.js';
import { publish, type PublishedIndex } from './published-image.js';
import { startDaemon, type Daemon, type Teardown } from './daemon.js';
import { startRegistry, type Registry } from './registry.js';
import { staticProgram } from './static-programs.js';
import { parentDirEntries, type TarEntry } from './tar-writer.js';
import { BUSYBOX_CONFIG, busyboxLayer } from './test-images.js';

/** The registries critest's image names use; each is mirrored to the loopback registry. */
export const CRITEST_REGISTRY_HOSTS = ['gcr.io', 'registry.k8s.io', 'k8s.gcr.io'] as const;

export interface CritestImage {
  /** Every name critest uses for this image, as it writes them (`gcr.io/k8s-staging-cri-tools/test-image-tags:1`). */
  names: string[];
  /** The loopback repository path that serves those names through the mirror. */
  repository: string;
  /** A Docker manifest list (as upstream pushes them) with linux/amd64 and linux/arm64. */
  published: PublishedIndex;
}

const STAGING = 'k8s-staging-cri-tools';

interface StandIn {
  repository: string;
  tags: [string, ...string[]];
  /** Registry hosts critest names this repository under. */
  hosts: readonly string[];
  build: (base: Layer) => Promise<{ layers: Layer[]; config: ContainerConfig }>;
}

/** `FROM busybox` + `ARG TEST` + `ADD ${TEST} ${TEST}`: an empty file named after the image, so each is distinct. */
function imageTest(repository: string, tags: [string, ...string[]], file: string): StandIn {
  return {
    repository: `${STAGING}/${repository}`,
    tags,
    hosts: ['gcr.io'],
    build: async (base) => ({
      layers: [base, await buildLayer([{ type: 'file', path: file, content: '' }], { createdBy: `ADD ${file} ${file}` })],
      config: BUSYBOX_CONFIG,
    }),
  };
}

/** `FROM busybox` + `USER ${USER}`: no layer of its own. */
function imageUser(repository: string, user: string): StandIn {
  return {
    repository: `${STAGING}/${repository}`,
    tags: ['latest'],
    hosts: ['gcr.io'],
    build: async (base) => ({ layers: [base], config: { ...BUSYBOX_CONFIG, User: user } }),
  };
}

/** What `adduser -u 1000 -D default-user && addgroup -g 50000 group-defined-in-image && addgroup default-user group-defined-in-image` leaves. */
async function predefinedGroupLayer(): Promise<Layer> {
  return buildLayer(
    [
      { type: 'dir', path: 'etc/' },
      { type: 'file', path: 'etc/passwd', content: `${BUSYBOX_PASSWD}default-user:x:1000:1000:Linux User,,,:/home/default-user:/bin/sh\n` },
      {
        type: 'file',
        path: 'etc/group',
        content: `${BUSYBOX_GROUP}default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n`,
      },
      { type: 'dir', path: 'home/' },
      { type: 'dir', path: 'home/default-user/', mode: 0o755, uid: 1000, gid: 1000 },
    ],
    { createdBy: 'RUN adduser -u 1000 -D default-user && addgroup -g 50000 group-defined-in-image && addgroup default-user group-defined-in-image' },
  );
}

/**
 * registry.k8s.io/pause runs `/pause`, which sleeps until SIGTERM or SIGINT and
 * exits 0, as uid 65535. A shell script does the same on the busybox layer.
 */
async function pauseLayer(): Promise<Layer> {
  return buildLayer(
    // Its idle child is tail, not sleep: specs that look for `sleep` in a pod-wide PID
    // namespace must see only their own processes, as with the real pause binary.
    [{ type: 'file', path: 'pause', mode: 0o755, content: "#!/bin/sh\ntrap 'exit 0' TERM INT\nwhile :; do tail -f /dev/null & wait $!; done\n" }],
    { createdBy: 'ADD pause /pause' },
  );
}

/**
 * upstream's e2e busybox has the pgrep and ipcs applets; Debian's busybox builds do not.
 * A shell pgrep that matches process names from /proc is enough for critest, which only
 * asks `pgrep sleep`; ipcs is a C program (__test__/fixtures/images/ipcs.c).
 */
async function busyboxExtrasLayer(): Promise<Layer> {
  const script = [
    '#!/bin/sh',
    'found=1',
    'for dir in /proc/[0-9]*; do',
    // The stand-in pause does not reap orphans as the real one does; their zombies are not processes to find.
    '  read -r _ _ state _ < "$dir/stat" 2>/dev/null && [ "$state" != Z ] || continue',
    '  name=$(cat "$dir/comm" 2>/dev/null) || continue',
    '  case "$name" in *"$1"*) echo "${dir#/proc/}"; found=0 ;; esac',
    'done',
    'exit $found',
    '',
  ].join('\n');
  return buildLayer(
    [
      { type: 'file', path: 'usr/bin/pgrep', mode: 0o755, content: script },
      { type: 'file', path: 'bin/ipcs', mode: 0o755, content: await staticProgram('ipcs') },
    ],
    { createdBy: 'ADD pgrep /usr/bin/pgrep; ADD ipcs /bin/ipcs' },
  );
}

/** The web server's binary at `binPath` and its files, with the directories on their way. */
async function webServerEntries(binPath: string, files: Record<string, string>): Promise<TarEntry[]> {
  return [
    ...parentDirEntries([binPath, ...Object.keys(files)]),
    { type: 'file', path: binPath, mode: 0o755, content: await staticProgram('web-server') },
    ...Object.entries(files).map(([file, content]): TarEntry => ({ type: 'file', path: file, content })),
  ];
}

const NGINX_INDEX =
  '<!DOCTYPE html>\n<html>\n<head>\n<title>Welcome to nginx!</title>\n</head>\n<body>\n<h1>Welcome to nginx!</h1>\n</body>\n</html>\n';

function nginxConf(port: number): string {
  return `server {\n    listen       ${port};\n    server_name  localhost;\n\n    location / {\n        root   /usr/share/nginx/html;\n        index  index.html index.htm;\n    }\n}\n`;
}

/**
 * registry.k8s.io/e2e-test-images/nginx (`nginx -g daemon off;` on port 80, pid in
 * /var/run/nginx.pid); hostnet-nginx is the same with `listen 12003;`. The server is
 * __test__/fixtures/images/web-server.c run as `nginx`.
 */
async function nginxLayer(port: number): Promise<Layer> {
  return buildLayer(
    [
      ...(await webServerEntries('usr/sbin/nginx', {
        'etc/nginx/conf.d/default.conf': nginxConf(port),
        'usr/share/nginx/html/index.html': NGINX_INDEX,
      })),
      { type: 'dir', path: 'var/run/', mode: 0o755 },
    ],
    { createdBy: `ADD nginx /usr/sbin/nginx; listen ${port}` },
  );
}

const NGINX_CONFIG: ContainerConfig = {
  Env: BUSYBOX_CONFIG.Env,
  Cmd: ['nginx', '-g', 'daemon off;'],
  ExposedPorts: { '80/tcp': {} },
};

/** registry.k8s.io/e2e-test-images/httpd: `httpd -D FOREGROUND` on port 80, web-server.c run as `httpd`. */
async function httpdLayer(): Promise<Layer> {
  return buildLayer(
    await webServerEntries('usr/local/apache2/bin/httpd', {
      'usr/local/apache2/conf/httpd.conf': 'ServerRoot "/usr/local/apache2"\nListen 80\nDocumentRoot "/usr/local/apache2/htdocs"\n',
      'usr/local/apache2/htdocs/index.html': '<html><body><h1>It works!</h1></body></html>\n',
    }),
    { createdBy: 'ADD httpd /usr/local/apache2/bin/httpd' },
  );
}

/** registry.k8s.io/e2e-test-images/nonewprivs: __test__/fixtures/images/nnp.c, setuid root. */
async function nonewprivsLayer(): Promise<Layer> {
  return buildLayer(
    [
      ...parentDirEntries(['usr/local/bin/nnp']),
      { type: 'file', path: 'usr/local/bin/nnp', mode: 0o4755, uid: 0, gid: 0, content: await staticProgram('nnp') },
    ],
    { createdBy: 'COPY nnp /usr/local/bin/nnp; RUN chmod +s /usr/local/bin/nnp' },
  );
}

const STAND_INS: readonly StandIn[] = [
  imageTest('test-image-1', ['latest'], 'test-image-1'),
  imageTest('test-image-2', ['latest'], 'test-image-2'),
  imageTest('test-image-3', ['latest'], 'test-image-3'),
  imageTest('test-image-latest', ['latest'], 'test-image-latest'),
  imageTest('test-image-tags', ['1', '2', '3'], 'same-image'),
  // Upstream builds :test and :all separately (ADD test / ADD all): two images.
  imageTest('test-image-tag', ['test'], 'test'),
  imageTest('test-image-tag', ['all'], 'all'),
  imageUser('test-image-user-uid', '1002'),
  imageUser('test-image-user-username', 'www-data'),
  imageUser('test-image-user-uid-group', '1003:1004'),
  imageUser('test-image-user-username-group', 'www-data:1004'),
  {
    repository: `${STAGING}/test-image-predefined-group`,
    tags: ['latest'],
    hosts: ['gcr.io'],
    build: async (base) => ({ layers: [base, await predefinedGroupLayer()], config: { ...BUSYBOX_CONFIG, User: '1000' } }),
  },
  // 3.9 is what the specs pull; 3.10 is crion's default pod sandbox image. They are two images
  // upstream too, and must stay two here: a spec counts the tags of pause:3.9 after pods pulled 3.10.
  ...['3.9', '3.10'].map((version): StandIn => ({
    repository: 'pause',
    tags: [version] as [string],
    hosts: ['registry.k8s.io', 'k8s.gcr.io'],
    build: async (base: Layer) => ({
      layers: [base, await pauseLayer()],
      config: { Entrypoint: ['/pause'], User: '65535:65535', Labels: { 'io.crion.test.pause': version } },
    }),
  })),
  {
    // critest's default container image for every non-image spec, on a busybox whose shell
    // runs commands from PATH as upstream's does (see dynamic-busybox.ts).
    repository: 'e2e-test-images/busybox',
    tags: ['1.29-2'],
    hosts: ['registry.k8s.io'],
    build: async () => ({
      layers: [await buildLayer(dynamicBusyboxEntries(), { createdBy: 'ADD busybox rootfs' }), await busyboxExtrasLayer()],
      config: BUSYBOX_CONFIG,
    }),
  },
  {
    repository: 'e2e-test-images/nginx',
    tags: ['1.14-2'],
    hosts: ['registry.k8s.io'],
    build: async (base) => ({ layers: [base, await nginxLayer(80)], config: NGINX_CONFIG }),
  },
  {
    repository: `${STAGING}/hostnet-nginx-amd64`,
    tags: ['latest'],
    hosts: ['gcr.io'],
    build: async (base) => ({ layers: [base, await nginxLayer(12003)], config: { ...NGINX_CONFIG, ExposedPorts: { '12003/tcp': {} } } }),
  },
  {
    repository: 'e2e-test-images/httpd',
    tags: ['2.4.39-4'],
    hosts: ['registry.k8s.io'],
    build: async (base) => ({
      layers: [base, await httpdLayer()],
      config: {
        Env: ['PATH=/usr/local/apache2/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        Cmd: ['httpd', '-D', 'FOREGROUND'],
        ExposedPorts: { '80/tcp': {} },
      },
    }),
  },
  {
    repository: 'e2e-test-images/nonewprivs',
    tags: ['1.3'],
    hosts: ['registry.k8s.io'],
    build: async (base) => ({ layers: [base, await nonewprivsLayer()], config: { Env: BUSYBOX_CONFIG.Env, Entrypoint: ['/usr/local/bin/nnp'] } }),
  },
];

/** The second platform of each list, never selected on an amd64 host; same layers, its own config. */
const OTHER_PLATFORM: Platform = { os: 'linux', architecture: 'arm64' };

/**
 * Pushes every stand-in; returns them in a fixed order. One after another: two
 * pushes of the same blob into one repository at once (pause 3.9 and 3.10 share
 * their layers) can leave one manifest naming a blob the registry has not
 * finished taking.
 */
export async function publishCritestImages(registry: Registry): Promise<CritestImage[]> {
  const base = await busyboxLayer();
  const published: CritestImage[] = [];
  for (const standIn of STAND_INS) {
    const { layers, config } = await standIn.build(base);
    const images: BuiltImage[] = [{ os: 'linux', architecture: 'amd64' }, OTHER_PLATFORM].map((platform) =>
      buildImage({ format: 'docker', platform, layers, config }),
    );
    const index = await publish(registry, standIn.repository, standIn.tags, buildIndex(images, 'docker'));
    const names = standIn.hosts.flatMap((host) => standIn.tags.map((tag) => `${host}/${standIn.repository}:${tag}`));
    published.push({ names, repository: standIn.repository, published: index });
  }
  return published;
}

/**
 * containers-registries.conf(5) that resolves critest's names through the loopback
 * registry: the mirror keeps the repository path, so `gcr.io/k8s-staging-cri-tools/x`
 * is pulled as `127.0.0.1:PORT/k8s-staging-cri-tools/x`, while the image keeps its
 * gcr.io name (its repo tag), which is what the specs compare against.
 */
export function critestRegistriesConf(registry: Registry): string {
  return CRITEST_REGISTRY_HOSTS.map(
    (host) => `[[registry]]\nprefix = "${host}"\nlocation = "${host}"\n\n[[registry.mirror]]\nlocation = "${registry.host}"\ninsecure = true\n`,
  ).join('\n');
}

/**
 * A daemon for a critest run: critest's stand-ins on a loopback registry of
 * the test's own, reached through critestRegistriesConf as a node reaches a
 * mirror. The daemon has the default network on a bridge of its own.
 */
export async function startCritestDaemon(t: Teardown, options: { logLevel?: string; args?: string[] } = {}): Promise<Daemon> {
  const registry = await startRegistry(t);
  await publishCritestImages(registry);
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-critest-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const registriesConf = path.join(dir, 'registries.conf');
  await writeFile(registriesConf, critestRegistriesConf(registry));
  return startDaemon(t, {
    config: `[image]\nregistries_conf = "${registriesConf}"\nregistries_conf_dir = "/nonexistent"\n`,
    ...(options.logLevel === undefined ? {} : { logLevel: options.logLevel }),
    ...(options.args === undefined ? {} : { args: options.args }),
  });
}
