import test from 'ava';
import { containerListFilter, podListFilter } from '../../src/cri/list-filters.js';
import type { ContainerFilter__Output } from '../../src/generated/runtime/v1/ContainerFilter.js';
import type { ContainerStatsFilter__Output } from '../../src/generated/runtime/v1/ContainerStatsFilter.js';
import type { PodSandboxFilter__Output } from '../../src/generated/runtime/v1/PodSandboxFilter.js';
import type { PodSandboxStatsFilter__Output } from '../../src/generated/runtime/v1/PodSandboxStatsFilter.js';

test('a request without a filter lists everything', (t) => {
  t.is(podListFilter(null), null);
  t.is(containerListFilter(null), null);
});

test('an empty pod filter matches any pod: "" is CRI for unset', (t) => {
  const filter: PodSandboxFilter__Output = { id: '', state: null, labelSelector: {} };
  t.deepEqual(podListFilter(filter), { id: null, state: null, labels: {} });
});

test('a pod filter keeps its ID prefix, state and labels', (t) => {
  const filter: PodSandboxFilter__Output = { id: 'ab12', state: { state: 'SANDBOX_NOTREADY' }, labelSelector: { app: 'web' } };
  t.deepEqual(podListFilter(filter), { id: 'ab12', state: 'SANDBOX_NOTREADY', labels: { app: 'web' } });
});

test('a pod stats filter, which has no state, matches any state', (t) => {
  const filter: PodSandboxStatsFilter__Output = { id: 'ab12', labelSelector: { app: 'web' } };
  t.deepEqual(podListFilter(filter), { id: 'ab12', state: null, labels: { app: 'web' } });
  t.deepEqual(podListFilter({ id: '', labelSelector: {} }), { id: null, state: null, labels: {} });
});

test('an empty container filter matches any container', (t) => {
  const filter: ContainerFilter__Output = { id: '', podSandboxId: '', state: null, labelSelector: {} };
  t.deepEqual(containerListFilter(filter), { id: null, sandboxId: null, state: null, labels: {} });
});

test('a container filter keeps its ID prefix, pod, state and labels, each on its own', (t) => {
  const full: ContainerFilter__Output = {
    id: 'c0ffee',
    podSandboxId: 'ab12',
    state: { state: 'CONTAINER_RUNNING' },
    labelSelector: { tier: 'db' },
  };
  t.deepEqual(containerListFilter(full), { id: 'c0ffee', sandboxId: 'ab12', state: 'CONTAINER_RUNNING', labels: { tier: 'db' } });
  t.deepEqual(containerListFilter({ ...full, id: '' }), { id: null, sandboxId: 'ab12', state: 'CONTAINER_RUNNING', labels: { tier: 'db' } });
  t.deepEqual(containerListFilter({ ...full, podSandboxId: '' }), {
    id: 'c0ffee',
    sandboxId: null,
    state: 'CONTAINER_RUNNING',
    labels: { tier: 'db' },
  });
});

test('a container stats filter, which has no state, matches any state', (t) => {
  const filter: ContainerStatsFilter__Output = { id: '', podSandboxId: 'ab12', labelSelector: { tier: 'db' } };
  t.deepEqual(containerListFilter(filter), { id: null, sandboxId: 'ab12', state: null, labels: { tier: 'db' } });
});
