import test from 'ava';
import { FailedPreconditionError, InvalidArgumentError } from '../../src/errors.js';
import {
  DEFAULT_CAPABILITIES,
  DEFAULT_SECCOMP_POLICY,
  compileSeccompPolicy,
  containerSpec,
  parseSeccompProfile,
  sandboxSpec,
  type OciSeccomp,
  type OciSyscall,
} from '../../src/oci/index.js';
import { containerSpecInput, hostFacts, imageDefaults, lookups, podConfig, sandboxContext, withSecurity } from '../helpers/oci-fixtures.js';
import type { LinuxContainerSecurityContext__Output } from '../../src/generated/runtime/v1/LinuxContainerSecurityContext.js';

const BLOCK_CHMOD = JSON.stringify({
  defaultAction: 'SCMP_ACT_ALLOW',
  syscalls: [{ names: ['chmod', 'fchmodat'], action: 'SCMP_ACT_ERRNO' }],
});

function seccompOf(
  security: Partial<LinuxContainerSecurityContext__Output>,
  options: { privilegedPod?: boolean; profiles?: Record<string, string>; seccomp?: boolean } = {},
): OciSeccomp | undefined {
  return containerSpec(
    containerSpecInput({
      config: withSecurity(security),
      sandbox: sandboxContext({ config: podConfig({}, { privileged: options.privilegedPod ?? false }) }),
      host: hostFacts(options.seccomp === false ? { seccomp: null } : {}),
      lookups: lookups({
        readProfile: (path) => {
          const text = options.profiles?.[path];
          if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
          return text;
        },
      }),
    }),
  ).linux.seccomp;
}

const rulesFor = (seccomp: OciSeccomp | undefined, name: string): OciSyscall[] =>
  (seccomp?.syscalls ?? []).filter((rule) => rule.names.includes(name));

test('no profile and Unconfined give no filter (critest: nil profile and unconfined)', (t) => {
  t.is(seccompOf({}), undefined);
  t.is(seccompOf({ seccomp: { profileType: 'Unconfined', localhostRef: '' } }), undefined);
  t.is(seccompOf({ seccompProfilePath: 'unconfined' }), undefined);
});

test("RuntimeDefault gives crion's allow list for the native and compat architectures (critest: default)", (t) => {
  for (const security of [
    { seccomp: { profileType: 'RuntimeDefault' as const, localhostRef: '' } },
    { seccompProfilePath: 'runtime/default' },
    { seccompProfilePath: 'docker/default' },
  ]) {
    const seccomp = seccompOf(security);
    t.is(seccomp?.defaultAction, 'SCMP_ACT_ERRNO');
    t.is(seccomp?.defaultErrnoRet, 1);
    t.deepEqual(seccomp?.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    t.true(rulesFor(seccomp, 'read').some((rule) => rule.action === 'SCMP_ACT_ALLOW' && rule.args === undefined));
  }
});

test('a privileged container has no filter even when it names one (critest)', (t) => {
  const profiles = { '/profiles/block-chmod.json': BLOCK_CHMOD };
  t.is(
    seccompOf(
      { privileged: true, seccomp: { profileType: 'Localhost', localhostRef: '/profiles/block-chmod.json' } },
      { privilegedPod: true, profiles },
    ),
    undefined,
  );
  t.is(seccompOf({ privileged: true, seccompProfilePath: 'runtime/default' }, { privilegedPod: true }), undefined);
});

test('a Localhost profile is read from the node and passed on (critest: localhost profile)', (t) => {
  const profiles = { '/profiles/block-chmod.json': BLOCK_CHMOD };
  const expected: OciSeccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['chmod', 'fchmodat'], action: 'SCMP_ACT_ERRNO' }] };
  t.deepEqual(seccompOf({ seccomp: { profileType: 'Localhost', localhostRef: '/profiles/block-chmod.json' } }, { profiles }), expected);
  t.deepEqual(seccompOf({ seccompProfilePath: 'localhost//profiles/block-chmod.json' }, { profiles }), expected);
  t.deepEqual(seccompOf({ seccomp: { profileType: 'Localhost', localhostRef: 'localhost//profiles/block-chmod.json' } }, { profiles }), expected);
});

const refused: Array<[string, Partial<LinuxContainerSecurityContext__Output>, typeof InvalidArgumentError | typeof FailedPreconditionError, RegExp]> =
  [
    [
      'a missing Localhost profile',
      { seccomp: { profileType: 'Localhost', localhostRef: '/nope.json' } },
      InvalidArgumentError,
      /cannot read seccomp profile "\/nope\.json": ENOENT/,
    ],
    [
      'a relative Localhost profile',
      { seccomp: { profileType: 'Localhost', localhostRef: 'rel.json' } },
      InvalidArgumentError,
      /must be an absolute path/,
    ],
    ['Localhost without a ref', { seccomp: { profileType: 'Localhost', localhostRef: '' } }, InvalidArgumentError, /localhost_ref is required/],
    [
      'a ref with RuntimeDefault',
      { seccomp: { profileType: 'RuntimeDefault', localhostRef: '/x' } },
      InvalidArgumentError,
      /only valid with profile_type Localhost/,
    ],
    [
      'an unknown legacy profile string',
      { seccompProfilePath: 'strict' },
      InvalidArgumentError,
      /"strict" is not runtime\/default, unconfined or localhost/,
    ],
  ];

for (const [title, security, kind, message] of refused) {
  test(`seccomp refuses ${title}`, (t) => {
    const error = t.throws<Error>(() => seccompOf(security), { instanceOf: kind });
    t.regex(error?.message ?? '', /^linux\.security_context\.seccomp/);
    t.regex(error?.message ?? '', message);
  });
}

test('seccomp other than unconfined fails on a kernel without it', (t) => {
  t.throws(() => seccompOf({ seccompProfilePath: 'runtime/default' }, { seccomp: false }), {
    instanceOf: FailedPreconditionError,
    message: /no seccomp support/,
  });
  t.is(seccompOf({ seccompProfilePath: 'unconfined' }, { seccomp: false }), undefined);
});

test('the default policy: namespaces only with CAP_SYS_ADMIN, clone3 falls back to clone, no vsock', (t) => {
  const plain = compileSeccompPolicy(DEFAULT_SECCOMP_POLICY, DEFAULT_CAPABILITIES, 'amd64');
  t.deepEqual(rulesFor(plain, 'clone'), [
    { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
  ]);
  t.deepEqual(rulesFor(plain, 'clone3'), [{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]);
  for (const name of ['unshare', 'setns', 'mount', 'sethostname', 'bpf', 'keyctl', 'add_key', 'io_uring_setup', 'kexec_load', 'userfaultfd']) {
    t.deepEqual(rulesFor(plain, name), [], name);
  }
  t.deepEqual(rulesFor(plain, 'socket'), [{ names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }] }]);
  t.deepEqual(
    rulesFor(plain, 'personality').map((rule) => rule.args?.[0]?.value),
    [0x0, 0x8, 0x20000, 0x20008, 0xffffffff],
  );
  t.true(rulesFor(plain, 'chown').length === 1 && rulesFor(plain, 'ptrace').length === 1);

  const admin = compileSeccompPolicy(DEFAULT_SECCOMP_POLICY, [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'], 'amd64');
  t.deepEqual(
    rulesFor(admin, 'clone').map((rule) => rule.args),
    [undefined],
    'any clone flags',
  );
  t.deepEqual(
    rulesFor(admin, 'clone3').map((rule) => rule.action),
    ['SCMP_ACT_ALLOW'],
  );
  for (const name of ['unshare', 'setns', 'mount', 'sethostname', 'bpf']) t.is(rulesFor(admin, name).length, 1, name);
});

test('the default policy follows the arm64 architectures and other capabilities', (t) => {
  const arm = compileSeccompPolicy(DEFAULT_SECCOMP_POLICY, ['CAP_SYS_TIME', 'CAP_BPF'], 'arm64');
  t.deepEqual(arm.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  t.is(rulesFor(arm, 'clock_settime').length, 1);
  t.is(rulesFor(arm, 'bpf').length, 1);
  t.is(rulesFor(arm, 'perf_event_open').length, 0);
  t.is(rulesFor(arm, 'chroot').length, 0, 'chroot needs CAP_SYS_CHROOT');
});

test('every syscall of the default policy is named once per capability situation, in lower case', (t) => {
  for (const caps of [[], ['CAP_SYS_ADMIN']]) {
    const compiled = compileSeccompPolicy(DEFAULT_SECCOMP_POLICY, caps, 'amd64');
    const unconditional = (compiled.syscalls ?? []).filter((rule) => rule.args === undefined).flatMap((rule) => rule.names);
    t.is(new Set(unconditional).size, unconditional.length);
    t.true(unconditional.every((name) => /^[a-z_0-9]+$/.test(name)));
  }
});

test('parseSeccompProfile keeps the OCI fields and checks them', (t) => {
  const profile = {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    architectures: ['SCMP_ARCH_X86_64'],
    flags: ['SECCOMP_FILTER_FLAG_LOG'],
    archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: [] }],
    syscalls: [
      { names: ['read'], action: 'SCMP_ACT_ALLOW' },
      { name: 'write', action: 'SCMP_ACT_ALLOW', comment: 'older Docker form' },
      { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }], includes: {} },
      { names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
    ],
  };
  t.deepEqual(parseSeccompProfile(JSON.stringify(profile), 'p'), {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    architectures: ['SCMP_ARCH_X86_64'],
    flags: ['SECCOMP_FILTER_FLAG_LOG'],
    syscalls: [
      { names: ['read'], action: 'SCMP_ACT_ALLOW' },
      { names: ['write'], action: 'SCMP_ACT_ALLOW' },
      { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
      { names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
    ],
  });
});

/** A profile whose one rule, for a syscall x, has these fields too. */
const withRule = (fields: Record<string, unknown>) => ({
  defaultAction: 'SCMP_ACT_ALLOW',
  syscalls: [{ names: ['x'], action: 'SCMP_ACT_ERRNO', ...fields }],
});

const badProfiles: Array<[string, unknown, RegExp]> = [
  ['not JSON', '{', /is not JSON/],
  ['an array', [], /the document must be an object/],
  ['no defaultAction', { syscalls: [] }, /defaultAction must be one of/],
  ['an unknown action', { defaultAction: 'SCMP_ACT_MAYBE' }, /defaultAction must be one of .*got "SCMP_ACT_MAYBE"/],
  ['an unknown architecture', { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_Z80'] }, /architectures\[0\]/],
  ['a rule without names', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ action: 'SCMP_ACT_ERRNO' }] }, /syscalls\[0\] names no syscalls/],
  ['an argument index of 6', withRule({ args: [{ index: 6, value: 0, op: 'SCMP_CMP_EQ' }] }), /args\[0\]\.index/],
  ['an unknown operator', withRule({ args: [{ index: 0, value: 0, op: 'SCMP_CMP_LIKE' }] }), /args\[0\]\.op/],
  ['a negative value', withRule({ args: [{ index: 0, value: -1, op: 'SCMP_CMP_EQ' }] }), /args\[0\]\.value/],
  ['a Docker condition', withRule({ includes: { caps: ['CAP_SYS_ADMIN'] } }), /includes is a Docker profile condition/],
  ['an errno out of range', { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 5000 }, /defaultErrnoRet must be an errno/],
];

for (const [title, document, message] of badProfiles) {
  test(`parseSeccompProfile refuses ${title}`, (t) => {
    const text = typeof document === 'string' ? document : JSON.stringify(document);
    const error = t.throws<Error>(() => parseSeccompProfile(text, 'seccomp profile "/p.json"'), { instanceOf: InvalidArgumentError });
    t.regex(error?.message ?? '', /^seccomp profile "\/p\.json"/);
    t.regex(error?.message ?? '', message);
  });
}

test('a sandbox spec takes its filter from the pod security context', (t) => {
  const spec = sandboxSpec({
    sandbox: sandboxContext({ config: podConfig({}, { seccomp: { profileType: 'RuntimeDefault', localhostRef: '' } }) }),
    image: imageDefaults({ entrypoint: ['/pause'], cmd: null }),
    imageName: 'registry.k8s.io/pause:3.9',
    rootfs: '/pause-rootfs',
    identity: { uid: 65535, gid: 65535, additionalGids: [65535] },
    host: hostFacts(),
    lookups: lookups(),
  });
  t.is(spec.linux.seccomp?.defaultAction, 'SCMP_ACT_ERRNO');
});
