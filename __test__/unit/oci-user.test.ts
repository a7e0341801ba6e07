import test from 'ava';
import { InvalidArgumentError } from '../../src/errors.js';
import type { LinuxContainerSecurityContext__Output } from '../../src/generated/runtime/v1/LinuxContainerSecurityContext.js';
import { resolveUser, type ResolvedUser } from '../../src/oci/index.js';
import { sandboxSecurityContext, securityContext } from '../helpers/oci-fixtures.js';

// The accounts of critest's images: www-data is 33 as in busybox, user 1000 is in group 50000 as in
// test-image-predefined-group.
const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  '# a comment',
  '',
  'www-data:x:33:33:www-data:/var/www:/bin/false',
  'default-user:x:1000:1000::/home/default-user:/bin/sh',
  'broken:x:notanumber:1::/:/bin/sh',
  '+nisuser',
  'nobody:x:65534:65534:nobody:/home:/bin/false',
].join('\n');

const GROUP = [
  'root:x:0:',
  'tty:x:5:',
  'wheel:x:10:root',
  'www-data:x:33:',
  'staff:x:50:www-data,default-user',
  'default-user:x:1000:',
  'group-defined-in-image:x:50000:default-user',
  'nogroup:x:65534:',
].join('\n');

const int64 = (value: number) => ({ value: String(value) });

const resolves: Array<[string, Partial<LinuxContainerSecurityContext__Output> | null, string, ResolvedUser]> = [
  ["no user anywhere is root, with root's groups", null, '', { uid: 0, gid: 0, additionalGids: [0, 10] }],
  ['image USER name', null, 'www-data', { uid: 33, gid: 33, additionalGids: [33, 50] }],
  ['image USER uid found in passwd takes its group', null, '33', { uid: 33, gid: 33, additionalGids: [33, 50] }],
  ['image USER uid not in passwd gets group 0', null, '1002', { uid: 1002, gid: 0, additionalGids: [0] }],
  ['image USER uid:gid', null, '1003:1004', { uid: 1003, gid: 1004, additionalGids: [1004] }],
  ['image USER name:gid', null, 'www-data:1004', { uid: 33, gid: 1004, additionalGids: [50, 1004] }],
  ['image USER name:group', null, 'www-data:nogroup', { uid: 33, gid: 65534, additionalGids: [50, 65534] }],
  ['image USER uid:group', null, '33:tty', { uid: 33, gid: 5, additionalGids: [5, 50] }],
  ['run_as_user overrides the image', { runAsUser: int64(1000) }, 'www-data', { uid: 1000, gid: 1000, additionalGids: [50, 1000, 50000] }],
  ['run_as_user ignores the image group', { runAsUser: int64(2000) }, '33:33', { uid: 2000, gid: 0, additionalGids: [0] }],
  ['run_as_user with run_as_group', { runAsUser: int64(1001), runAsGroup: int64(1002) }, '', { uid: 1001, gid: 1002, additionalGids: [1002] }],
  ['run_as_username', { runAsUsername: 'www-data' }, '', { uid: 33, gid: 33, additionalGids: [33, 50] }],
  ['run_as_username with run_as_group', { runAsUsername: 'www-data', runAsGroup: int64(7) }, '', { uid: 33, gid: 7, additionalGids: [7, 50] }],
  [
    'supplemental groups merge with /etc/group (critest Merge)',
    { runAsUser: int64(1000), supplementalGroups: ['1234'] },
    '',
    { uid: 1000, gid: 1000, additionalGids: [50, 1000, 1234, 50000] },
  ],
  [
    'Strict keeps only the primary and the requested groups (critest Strict)',
    { runAsUser: int64(1000), supplementalGroups: ['1234'], supplementalGroupsPolicy: 'Strict' },
    '',
    { uid: 1000, gid: 1000, additionalGids: [1000, 1234] },
  ],
  ['repeated groups appear once', { runAsUser: int64(0), supplementalGroups: ['10', '10', '0'] }, '', { uid: 0, gid: 0, additionalGids: [0, 10] }],
];

for (const [title, context, imageUser, expected] of resolves) {
  test(`resolveUser: ${title}`, (t) => {
    t.deepEqual(resolveUser(context === null ? null : securityContext(context), imageUser, PASSWD, GROUP), expected);
  });
}

const refuses: Array<[string, Partial<LinuxContainerSecurityContext__Output>, string, string | null, RegExp]> = [
  [
    'run_as_group without a user (critest)',
    { runAsGroup: int64(1) },
    'www-data',
    PASSWD,
    /run_as_group is set without run_as_user or run_as_username/,
  ],
  ['run_as_user and run_as_username together', { runAsUser: int64(1), runAsUsername: 'www-data' }, '', PASSWD, /mutually exclusive/],
  ['an unknown run_as_username', { runAsUsername: 'x' }, '', PASSWD, /^user "x" not found in the image's \/etc\/passwd$/],
  ['a username without /etc/passwd', { runAsUsername: 'www-data' }, '', null, /the image has no \/etc\/passwd/],
  ['an unknown image USER name', {}, 'ghost', PASSWD, /user "ghost" not found/],
  ['an unknown image group', {}, 'www-data:ghosts', PASSWD, /group "ghosts" not found in the image's \/etc\/group/],
  ['a USER with two colons', {}, 'a:b:c', PASSWD, /is not user, uid, user:group or uid:gid/],
  ["a uid above runc's limit", { runAsUser: int64(2 ** 31) }, '', PASSWD, /run_as_user: 2147483648 is outside 0\.\.2147483647/],
  ['a negative gid', { runAsUser: int64(1), runAsGroup: int64(-1) }, '', PASSWD, /run_as_group/],
  ['a non-numeric supplemental group', { supplementalGroups: ['wheel'] }, '', PASSWD, /supplemental_groups: "wheel" is not an integer/],
];

for (const [title, context, imageUser, passwd, message] of refuses) {
  test(`resolveUser refuses ${title}`, (t) => {
    const error = t.throws(() => resolveUser(securityContext(context), imageUser, passwd, GROUP), {
      instanceOf: InvalidArgumentError,
    });
    t.regex(error?.message ?? '', message);
  });
}

test('resolveUser takes a pod security context, which has no username, for the infra process', (t) => {
  t.deepEqual(resolveUser(sandboxSecurityContext({ runAsUser: int64(65535), runAsGroup: int64(65535) }), '65535:65535', null, null), {
    uid: 65535,
    gid: 65535,
    additionalGids: [65535],
  });
});

test('resolveUser works without /etc/group: numeric groups still resolve and no memberships are added', (t) => {
  t.deepEqual(resolveUser(securityContext({ supplementalGroups: ['7'] }), 'www-data', PASSWD, null), {
    uid: 33,
    gid: 33,
    additionalGids: [7, 33],
  });
});
