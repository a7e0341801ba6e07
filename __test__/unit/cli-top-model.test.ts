import test from 'ava';
import { INITIAL_VIEW, pressKey, type KeyFlags, type ViewState } from '../../src/cli/top/key-bindings.js';
import { arrange } from '../../src/cli/top/ordering.js';
import { fetchSnapshot, joinSnapshot, restartsOf, type PodGroup, type TopSource } from '../../src/cli/top/snapshot.js';
import { formatCpu, formatMemory } from '../../src/cli/top/units.js';
import type { Container__Output } from '../../src/generated/runtime/v1/Container.js';
import type { ContainerStats__Output } from '../../src/generated/runtime/v1/ContainerStats.js';
import type { PodSandbox__Output } from '../../src/generated/runtime/v1/PodSandbox.js';

/** crion top's model: the CRI listings joined into pods, sorted and filtered, its units, and what each key does. */

const AT = new Date('2026-01-02T03:04:05Z');

function pod(id: string, name: string, state: 'SANDBOX_READY' | 'SANDBOX_NOTREADY' = 'SANDBOX_READY'): PodSandbox__Output {
  return {
    id,
    metadata: { name, namespace: 'default', uid: `${id}-uid`, attempt: 0 },
    state,
    createdAt: '1',
    labels: {},
    annotations: {},
    runtimeHandler: '',
  };
}

function container(
  id: string,
  podSandboxId: string,
  name: string,
  options: { attempt?: number; state?: Container__Output['state']; annotations?: Record<string, string>; createdAt?: string } = {},
): Container__Output {
  return {
    id,
    podSandboxId,
    metadata: { name, attempt: options.attempt ?? 0 },
    image: null,
    imageRef: '',
    state: options.state ?? 'CONTAINER_RUNNING',
    createdAt: options.createdAt ?? '1',
    labels: {},
    annotations: options.annotations ?? {},
    imageId: '',
  };
}

function stats(id: string, nanoCores: number | null, workingSet: number): ContainerStats__Output {
  return {
    attributes: { id, metadata: null, labels: {}, annotations: {} },
    cpu: {
      timestamp: '1',
      usageCoreNanoSeconds: { value: '1' },
      usageNanoCores: nanoCores === null ? null : { value: String(nanoCores) },
      psi: null,
    },
    memory: {
      timestamp: '1',
      workingSetBytes: { value: String(workingSet) },
      availableBytes: null,
      usageBytes: null,
      rssBytes: null,
      pageFaults: null,
      majorPageFaults: null,
      psi: null,
    },
    writableLayer: null,
    swap: null,
    io: null,
  };
}

test('a snapshot groups containers under their pods with their usage, and sums it per pod', async (t) => {
  const deadlines: Array<Date | undefined> = [];
  const source: TopSource = {
    listPods: async ({ deadline }) => {
      deadlines.push(deadline);
      return [pod('p1', 'web'), pod('p2', 'db', 'SANDBOX_NOTREADY')];
    },
    listContainers: async () => [
      container('c1', 'p1', 'nginx'),
      container('c2', 'p1', 'sidecar'),
      container('c3', 'p2', 'postgres', { state: 'CONTAINER_EXITED' }),
    ],
    listContainerStats: async () => [stats('c1', 250_000_000, 10 * 1024 * 1024), stats('c2', null, 1024)],
  };
  const snapshot = await fetchSnapshot(source, () => AT);
  t.is(snapshot.at, AT);
  const wait = (deadlines[0]?.getTime() ?? 0) - Date.now();
  t.true(wait > 5_000 && wait <= 10_000, 'each listing bounded, so a hung daemon fails the refresh');
  const [web, db] = snapshot.pods;
  t.like(web, { id: 'p1', name: 'web', namespace: 'default', state: 'READY', nanoCores: 250_000_000, memoryBytes: 10 * 1024 * 1024 + 1024 });
  t.deepEqual(
    web!.containers.map((row) => [row.name, row.state, row.nanoCores, row.memoryBytes]),
    [
      ['nginx', 'RUNNING', 250_000_000, 10 * 1024 * 1024],
      ['sidecar', 'RUNNING', null, 1024],
    ],
  );
  t.like(db, { state: 'NOTREADY', nanoCores: null, memoryBytes: null, restarts: 0 });
  t.like(db!.containers[0], { name: 'postgres', state: 'EXITED', nanoCores: null, memoryBytes: null });
});

test('only the newest attempt of a container name shows, with the restart count; a container without its pod waits', (t) => {
  const snapshot = joinSnapshot(
    [pod('p1', 'web')],
    [
      container('old', 'p1', 'app', { attempt: 2, state: 'CONTAINER_EXITED' }),
      container('new', 'p1', 'app', { attempt: 3 }),
      container('older', 'p1', 'app', { attempt: 1, state: 'CONTAINER_EXITED' }),
      container('orphan', 'p9', 'app'),
    ],
    [],
    AT,
  );
  t.deepEqual(
    snapshot.pods[0]!.containers.map((row) => [row.id, row.restarts]),
    [['new', 3]],
  );
  t.is(snapshot.pods[0]!.restarts, 3);
});

test("restarts are the kubelet's restartCount annotation when it is a count, else CRI's attempt", (t) => {
  t.is(restartsOf(container('c', 'p', 'app', { attempt: 4 })), 4);
  t.is(restartsOf(container('c', 'p', 'app', { attempt: 4, annotations: { 'io.kubernetes.container.restartCount': '5' } })), 5);
  t.is(restartsOf(container('c', 'p', 'app', { attempt: 4, annotations: { 'io.kubernetes.container.restartCount': 'five' } })), 4);
});

function group(name: string, containers: Array<[name: string, nanoCores: number | null, memory: number | null, restarts: number]>): PodGroup {
  const rows = containers.map(([containerName, nanoCores, memoryBytes, restarts]) => ({
    id: `${name}-${containerName}`,
    name: containerName,
    state: nanoCores === null ? 'EXITED' : 'RUNNING',
    nanoCores,
    memoryBytes,
    restarts,
  }));
  const known = (values: (number | null)[]) =>
    values.some((value) => value !== null) ? values.reduce<number>((sum, value) => sum + (value ?? 0), 0) : null;
  return {
    id: name,
    name,
    namespace: name === 'kube-proxy' ? 'kube-system' : 'default',
    state: 'READY',
    containers: rows,
    nanoCores: known(rows.map((row) => row.nanoCores)),
    memoryBytes: known(rows.map((row) => row.memoryBytes)),
    restarts: rows.reduce((sum, row) => sum + row.restarts, 0),
  };
}

const PODS = [
  group('web', [
    ['nginx', 300, 10, 0],
    ['sidecar', 500, 1, 7],
  ]),
  group('db', [['postgres', 100, 50, 1]]),
  group('kube-proxy', [['proxy', null, null, 0]]),
];

function order(pods: PodGroup[]): string[] {
  return pods.flatMap((entry) => [entry.name, ...entry.containers.map((row) => `  ${row.name}`)]);
}

test('cpu, memory and restarts sort largest first, pods by their totals and containers within each pod', (t) => {
  t.deepEqual(order(arrange(PODS, { sortKey: 'cpu', filter: '' })), ['web', '  sidecar', '  nginx', 'db', '  postgres', 'kube-proxy', '  proxy']);
  t.deepEqual(order(arrange(PODS, { sortKey: 'memory', filter: '' })), ['db', '  postgres', 'web', '  nginx', '  sidecar', 'kube-proxy', '  proxy']);
  t.deepEqual(order(arrange(PODS, { sortKey: 'restarts', filter: '' })), [
    'web',
    '  sidecar',
    '  nginx',
    'db',
    '  postgres',
    'kube-proxy',
    '  proxy',
  ]);
});

test('name sorts alphabetically; ties on a figure go by name too', (t) => {
  t.deepEqual(order(arrange(PODS, { sortKey: 'name', filter: '' })), ['db', '  postgres', 'kube-proxy', '  proxy', 'web', '  nginx', '  sidecar']);
  const tied = [group('b', [['x', 1, 1, 0]]), group('a', [['y', 1, 1, 0]])];
  t.deepEqual(order(arrange(tied, { sortKey: 'cpu', filter: '' })), ['a', '  y', 'b', '  x']);
});

test('a filter keeps a pod whose name matches whole, else just its matching containers; case does not matter', (t) => {
  t.deepEqual(order(arrange(PODS, { sortKey: 'name', filter: 'WEB' })), ['web', '  nginx', '  sidecar']);
  t.deepEqual(order(arrange(PODS, { sortKey: 'name', filter: 'side' })), ['web', '  sidecar']);
  t.deepEqual(order(arrange(PODS, { sortKey: 'name', filter: 'kube-system/' })), ['kube-proxy', '  proxy']);
  t.deepEqual(order(arrange(PODS, { sortKey: 'name', filter: 'nothing' })), []);
  t.is(arrange(PODS, { sortKey: 'name', filter: 'side' })[0]!.nanoCores, 800, "a pod's totals stay its whole pod's");
});

test('CPU is a percentage of one core; memory is in binary units; no figure is "-"', (t) => {
  t.is(formatCpu(null), '-');
  t.is(formatCpu(0), '0.0%');
  t.is(formatCpu(5_000_000), '0.5%');
  t.is(formatCpu(987_600_000), '98.8%');
  t.is(formatCpu(1_500_000_000), '150%');
  t.is(formatMemory(null), '-');
  t.is(formatMemory(512), '512B');
  t.is(formatMemory(1536), '1.5Ki');
  t.is(formatMemory(356 * 1024), '356Ki');
  t.is(formatMemory(64 * 1024 * 1024), '64Mi');
  t.is(formatMemory(3.25 * 1024 ** 3), '3.3Gi');
});

const NO_KEY: KeyFlags = { return: false, escape: false, backspace: false, delete: false, ctrl: false, meta: false };

function press(view: ViewState, ...keys: Array<string | Partial<KeyFlags>>): ViewState | 'quit' {
  let current = view;
  for (const key of keys) {
    const outcome = typeof key === 'string' ? pressKey(current, key, NO_KEY) : pressKey(current, '', { ...NO_KEY, ...key });
    if (outcome.quit) return 'quit';
    current = outcome.view;
  }
  return current;
}

test('c, m, n and r choose the sort; q quits; other keys do nothing', (t) => {
  t.like(press(INITIAL_VIEW, 'm'), { sortKey: 'memory' });
  t.like(press(INITIAL_VIEW, 'n'), { sortKey: 'name' });
  t.like(press(INITIAL_VIEW, 'r'), { sortKey: 'restarts' });
  t.like(press(INITIAL_VIEW, 'n', 'c'), { sortKey: 'cpu' });
  t.deepEqual(press(INITIAL_VIEW, 'x'), INITIAL_VIEW);
  t.is(press(INITIAL_VIEW, 'q'), 'quit');
  t.deepEqual(pressKey(INITIAL_VIEW, 'm', { ...NO_KEY, ctrl: true }), { quit: false, view: INITIAL_VIEW });
});

test('/ opens the filter line: typing edits it, Enter applies it, Esc clears it, and sort keys are just letters there', (t) => {
  const typing = press(INITIAL_VIEW, '/', 'w', 'e', 'bx', { delete: true });
  t.deepEqual(typing, { sortKey: 'cpu', filter: '', draft: 'web' });
  const applied = press(INITIAL_VIEW, '/', 'qmnr', { return: true });
  t.deepEqual(applied, { sortKey: 'cpu', filter: 'qmnr', draft: null });
  t.deepEqual(
    press(applied as ViewState, '/', { backspace: true }),
    { sortKey: 'cpu', filter: 'qmnr', draft: 'qmn' },
    'reopened on the filter in force',
  );
  t.deepEqual(press(applied as ViewState, '/', 'x', { escape: true }), { sortKey: 'cpu', filter: '', draft: null });
  t.deepEqual(press(applied as ViewState, { escape: true }), { sortKey: 'cpu', filter: '', draft: null }, 'Esc outside the line clears too');
  t.deepEqual(press(INITIAL_VIEW, '/', 'a\tb\x1b'), { sortKey: 'cpu', filter: '', draft: 'ab' }, 'control characters of a paste are dropped');
});
