import test from 'ava';
import { FailedPreconditionError, InvalidArgumentError } from '../../src/errors.js';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, capabilitiesFromMask, containerCapabilities } from '../../src/oci/index.js';

const HOST = ALL_CAPABILITIES.filter((cap) => cap !== 'CAP_SYS_RESOURCE');
const request = (add: string[] = [], drop: string[] = [], ambient: string[] = []) => ({
  addCapabilities: add,
  dropCapabilities: drop,
  addAmbientCapabilities: ambient,
});
const sorted = (caps: readonly string[]) => ALL_CAPABILITIES.filter((cap) => caps.includes(cap));

const cases: Array<[string, ReturnType<typeof request> | null, readonly string[]]> = [
  ['no request: the default set', null, DEFAULT_CAPABILITIES],
  ['add NET_ADMIN (critest)', request(['NET_ADMIN']), [...DEFAULT_CAPABILITIES, 'CAP_NET_ADMIN']],
  ['drop NET_RAW (critest)', request([], ['NET_RAW']), DEFAULT_CAPABILITIES.filter((cap) => cap !== 'CAP_NET_RAW')],
  [
    'names with CAP_ and in lower case',
    request(['cap_sys_ptrace'], ['Chown']),
    [...DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_CHOWN'), 'CAP_SYS_PTRACE'],
  ],
  ['add ALL is everything crion holds (critest)', request(['ALL']), HOST],
  ['drop ALL is nothing (critest)', request([], ['ALL']), []],
  ['add ALL then drop one', request(['ALL'], ['CHOWN']), HOST.filter((cap) => cap !== 'CAP_CHOWN')],
  ['drop ALL then add one', request(['NET_ADMIN'], ['ALL']), ['CAP_NET_ADMIN']],
  ['drop wins over add of the same capability', request(['NET_ADMIN'], ['NET_ADMIN']), DEFAULT_CAPABILITIES],
];

for (const [title, caps, expected] of cases) {
  test(`containerCapabilities: ${title}`, (t) => {
    const sets = containerCapabilities(caps, false, HOST);
    t.deepEqual(sets.bounding, sorted(expected));
    t.deepEqual(sets.effective, sets.bounding);
    t.deepEqual(sets.permitted, sets.bounding);
    t.deepEqual(sets.inheritable, []);
    t.deepEqual(sets.ambient, []);
  });
}

test('a privileged container gets every capability crion holds, whatever it asked to drop', (t) => {
  const sets = containerCapabilities(request([], ['ALL']), true, HOST);
  t.deepEqual(sets.bounding, HOST);
  t.false(sets.bounding.includes('CAP_SYS_RESOURCE'));
});

test('ambient capabilities are also inheritable, permitted, effective and bounding', (t) => {
  const sets = containerCapabilities(request([], ['ALL'], ['NET_BIND_SERVICE']), false, HOST);
  for (const set of Object.values(sets)) t.deepEqual(set, ['CAP_NET_BIND_SERVICE']);
});

test('defaults crion does not hold are left out rather than failing the container', (t) => {
  const host = HOST.filter((cap) => cap !== 'CAP_MKNOD');
  t.false(containerCapabilities(null, false, host).bounding.includes('CAP_MKNOD'));
});

const refusals: Array<[string, ReturnType<typeof request>, typeof InvalidArgumentError | typeof FailedPreconditionError, RegExp]> = [
  ['an unknown name', request(['FLY']), InvalidArgumentError, /add_capabilities: unknown capability "FLY"/],
  ['an unknown dropped name', request([], ['CAP_']), InvalidArgumentError, /drop_capabilities: unknown capability/],
  ['ALL as ambient', request([], [], ['ALL']), InvalidArgumentError, /ALL cannot be ambient/],
  ['an ambient capability that is also dropped', request([], ['NET_RAW'], ['NET_RAW']), InvalidArgumentError, /both dropped and added as ambient/],
  ["a capability outside crion's bounding set", request(['SYS_RESOURCE']), FailedPreconditionError, /CAP_SYS_RESOURCE is outside crion's own/],
];

for (const [title, caps, kind, message] of refusals) {
  test(`containerCapabilities refuses ${title}`, (t) => {
    const error = t.throws<Error>(() => containerCapabilities(caps, false, HOST), { instanceOf: kind });
    t.regex(error?.message ?? '', message);
  });
}

test('capabilitiesFromMask reads a CapBnd mask bit by bit', (t) => {
  t.deepEqual(capabilitiesFromMask(0n), []);
  t.deepEqual(capabilitiesFromMask(0b101n), ['CAP_CHOWN', 'CAP_DAC_READ_SEARCH']);
  // What this CI host reports: everything up to CAP_CHECKPOINT_RESTORE but CAP_SYS_RESOURCE.
  t.deepEqual(capabilitiesFromMask(0x1fffeffffffn), HOST);
  t.is(ALL_CAPABILITIES.indexOf('CAP_SYS_ADMIN'), 21);
  t.is(ALL_CAPABILITIES.indexOf('CAP_CHECKPOINT_RESTORE'), 40);
});
