import test from 'ava';
import { InvalidArgumentError } from '../../src/errors.js';
import type { ContainerConfig__Output } from '../../src/generated/runtime/v1/ContainerConfig.js';
import type { ContainerDefaults } from '../../src/image/manifest.js';
import { containerSpec, type HostFacts, type OciProcess } from '../../src/oci/index.js';
import { containerConfig, containerSpecInput, hostFacts, imageDefaults } from '../helpers/oci-fixtures.js';

function processOf(config: Partial<ContainerConfig__Output>, image: Partial<ContainerDefaults> = {}, host: Partial<HostFacts> = {}): OciProcess {
  return containerSpec(
    containerSpecInput({
      config: containerConfig(config),
      image: imageDefaults(image),
      identity: { uid: 1000, gid: 1000, additionalGids: [1000, 1234] },
      host: hostFacts(host),
    }),
  ).process;
}

const env = (pairs: Record<string, string>) => Object.entries(pairs).map(([key, value]) => ({ key, value: Buffer.from(value) }));

const args: Array<[string, Partial<ContainerConfig__Output>, Partial<ContainerDefaults>, string[]]> = [
  [
    "the image's entrypoint and cmd",
    {},
    { entrypoint: ['/docker-entrypoint.sh'], cmd: ['nginx', '-g', 'daemon off;'] },
    ['/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;'],
  ],
  ['command replaces the entrypoint and drops the cmd', { command: ['sh', '-c'] }, { entrypoint: ['/init'], cmd: ['serve'] }, ['sh', '-c']],
  ['command with args', { command: ['sleep'], args: ['10'] }, { entrypoint: ['/init'], cmd: ['serve'] }, ['sleep', '10']],
  [
    'args alone replace the cmd and keep the entrypoint',
    { args: ['--port', '80'] },
    { entrypoint: ['/init'], cmd: ['serve'] },
    ['/init', '--port', '80'],
  ],
  ['args alone without an entrypoint', { args: ['ls', '/'] }, { entrypoint: null, cmd: ['sh'] }, ['ls', '/']],
  ['an entrypoint of [""] is none', {}, { entrypoint: [''], cmd: ['sh'] }, ['sh']],
  ['the cmd alone', {}, { entrypoint: null, cmd: ['sh'] }, ['sh']],
];

for (const [title, config, image, expected] of args) {
  test(`args: ${title}`, (t) => {
    t.deepEqual(processOf(config, image).args, expected);
  });
}

test('args: nothing to run is refused', (t) => {
  t.throws(() => processOf({}, { entrypoint: null, cmd: null }), { instanceOf: InvalidArgumentError, message: /^no command/ });
  t.throws(() => processOf({}, { entrypoint: [''], cmd: [] }), { instanceOf: InvalidArgumentError });
});

test('env: defaults, then the image, then the request, each replacing by name in place', (t) => {
  t.deepEqual(processOf({ envs: env({ FOO: 'from-cri', NEW: 'x=y' }) }, { env: ['PATH=/image/bin', 'FOO=from-image', 'LANG=C.UTF-8'] }).env, [
    'PATH=/image/bin',
    'HOSTNAME=web-0',
    'FOO=from-cri',
    'LANG=C.UTF-8',
    'NEW=x=y',
  ]);
});

test('env: image entries that are not NAME=value are left out', (t) => {
  t.deepEqual(processOf({}, { env: ['PATH=/bin', 'BARE', '=nameless'] }).env, ['PATH=/bin', 'HOSTNAME=web-0']);
});

test('env: PATH defaults when the image sets none; a terminal gets TERM', (t) => {
  t.deepEqual(processOf({ tty: true }, { env: [] }).env, [
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'TERM=xterm',
    'HOSTNAME=web-0',
  ]);
});

test('env: a request may override HOSTNAME and TERM', (t) => {
  const result = processOf({ tty: true, envs: env({ HOSTNAME: 'custom', TERM: 'dumb' }) }).env;
  t.true(result.includes('HOSTNAME=custom') && result.includes('TERM=dumb'));
  t.false(result.includes('HOSTNAME=web-0'));
});

const badEnv: Array<[string, Record<string, string>, RegExp]> = [
  ['an empty name', { '': 'x' }, /envs\[0\]\.key "" is not a variable name/],
  ['a name with =', { 'A=B': 'x' }, /envs\[0\]\.key "A=B"/],
  ['a NUL in a value', { A: 'x\0y' }, /envs\[0\] \(A\) contains a NUL byte/],
];

for (const [title, pairs, message] of badEnv) {
  test(`env: refuses ${title}`, (t) => {
    t.throws(() => processOf({ envs: env(pairs) }), { instanceOf: InvalidArgumentError, message });
  });
}

const cwds: Array<[string, string, string, string]> = [
  ["the request's", '/work', '/app', '/work'],
  ["the image's", '', '/app', '/app'],
  ['the root by default', '', '', '/'],
];

for (const [title, workingDir, imageDir, expected] of cwds) {
  test(`cwd: ${title}`, (t) => {
    t.is(processOf({ workingDir }, { workingDir: imageDir }).cwd, expected);
  });
}

test('cwd: a relative directory is refused', (t) => {
  t.throws(() => processOf({ workingDir: 'work' }), { instanceOf: InvalidArgumentError, message: 'working_dir "work" is not an absolute path' });
  t.throws(() => processOf({}, { workingDir: 'app' }), { instanceOf: InvalidArgumentError, message: /the image's WorkingDir "app"/ });
});

test('the user, terminal and rlimits are passed on', (t) => {
  const process = processOf({ tty: true }, {}, { defaultRlimits: [{ type: 'RLIMIT_NOFILE', hard: 1048576, soft: 1048576 }] });
  t.deepEqual(process.user, { uid: 1000, gid: 1000, additionalGids: [1000, 1234] });
  t.true(process.terminal);
  t.deepEqual(process.rlimits, [{ type: 'RLIMIT_NOFILE', hard: 1048576, soft: 1048576 }]);
  t.is(processOf({}).rlimits, undefined, "no rlimits: the runtime inherits crion's");
});
