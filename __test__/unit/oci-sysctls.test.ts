import test from 'ava';
import { InvalidArgumentError } from '../../src/errors.js';
import { podSysctls } from '../../src/oci/index.js';

const POD = { hostNetwork: false, hostIpc: false };

const accepted: Array<[string, Record<string, string>, Record<string, string>]> = [
  ["critest's safe sysctl", { 'kernel.shm_rmid_forced': '1' }, { 'kernel.shm_rmid_forced': '1' }],
  ["critest's unsafe sysctl", { 'fs.mqueue.msg_max': '100' }, { 'fs.mqueue.msg_max': '100' }],
  [
    'message queues and semaphores',
    { 'kernel.msgmax': '8192', 'kernel.sem': '250 32000 32 128' },
    { 'kernel.msgmax': '8192', 'kernel.sem': '250 32000 32 128' },
  ],
  ['network sysctls', { 'net.ipv4.ip_unprivileged_port_start': '0' }, { 'net.ipv4.ip_unprivileged_port_start': '0' }],
  ['the slash form, with a dot in an interface name', { 'net/ipv4/conf/eno2.100/rp_filter': '1' }, { 'net.ipv4.conf.eno2/100.rp_filter': '1' }],
  ['none', {}, {}],
];

for (const [title, sysctls, expected] of accepted) {
  test(`podSysctls accepts ${title}`, (t) => {
    t.deepEqual(podSysctls(sysctls, POD), expected);
  });
}

test('podSysctls lists names in a stable order', (t) => {
  t.deepEqual(Object.keys(podSysctls({ 'net.b': '1', 'kernel.shmmax': '1', 'net.a': '1' }, POD)), ['kernel.shmmax', 'net.a', 'net.b']);
});

const refused: Array<[string, Record<string, string>, { hostNetwork: boolean; hostIpc: boolean }, RegExp]> = [
  ['a node-wide sysctl', { 'vm.swappiness': '10' }, POD, /vm\.swappiness is not namespaced/],
  ['a kernel sysctl outside the IPC set', { 'kernel.pid_max': '1' }, POD, /kernel\.pid_max is not namespaced/],
  ['net.* on the host network', { 'net.ipv4.ip_forward': '1' }, { hostNetwork: true, hostIpc: false }, /node's network namespace/],
  ['IPC sysctls with host IPC', { 'kernel.shmmax': '1' }, { hostNetwork: false, hostIpc: true }, /node's IPC namespace/],
  ['a value with a newline', { 'net.core.somaxconn': '1\n2' }, POD, /newline/],
  ['a name that is not one', { 'net..x': '1' }, POD, /is not a sysctl name/],
];

for (const [title, sysctls, ownership, message] of refused) {
  test(`podSysctls refuses ${title}`, (t) => {
    const error = t.throws(() => podSysctls(sysctls, ownership), { instanceOf: InvalidArgumentError });
    t.regex(error?.message ?? '', /^linux\.sysctls: /);
    t.regex(error?.message ?? '', message);
  });
}
