import test from 'ava';
import { renderToString } from 'ink';
import { createElement } from 'react';
import { INITIAL_VIEW } from '../../src/cli/top/key-bindings.js';
import type { PodGroup, TopSnapshot } from '../../src/cli/top/snapshot.js';
import { snapshotText, TopScreen, type TopScreenProps } from '../../src/cli/top/top-screen.js';

/** crion top's frame as ink lays it out: columns for the width, rows cut to the height, the error and filter lines. */

const ENDPOINT = 'unix:///run/crion/crion.sock';

function pods(count: number): PodGroup[] {
  return Array.from({ length: count }, (_, index) => ({
    id: `${index}`.padStart(64, 'a'),
    name: `pod-${index}`,
    namespace: 'default',
    state: 'READY',
    containers: [{ id: `${index}`.padStart(64, 'c'), name: `app-${index}`, state: 'RUNNING', nanoCores: 10_000_000, memoryBytes: 2048, restarts: 1 }],
    nanoCores: 10_000_000,
    memoryBytes: 2048,
    restarts: 1,
  }));
}

const SNAPSHOT: TopSnapshot = { at: new Date(2026, 0, 2, 3, 4, 5), pods: pods(10) };

function frame(props: Partial<TopScreenProps>, columns = 100): string[] {
  const all: TopScreenProps = { endpoint: ENDPOINT, snapshot: SNAPSHOT, error: null, view: INITIAL_VIEW, width: columns, height: 40, ...props };
  return renderToString(createElement(TopScreen, all), { columns }).split('\n');
}

test('the header counts pods and containers and names the time, sort, filter and endpoint; each row has its columns', (t) => {
  const lines = frame({}, 140);
  t.is(lines[0], 'crion top · 03:04:05 · 10 pods (10 ready) · 10 containers (10 running) · sort: cpu · filter: none · unix:///run/crion/crion.sock');
  t.regex(lines[1]!, /^keys: c cpu · m memory · n name · r restarts · \/ filter · Esc clear filter · q quit/);
  t.deepEqual(lines[2]!.split(/\s+/), ['NAME', 'STATE', 'CPU', 'MEMORY', 'RESTARTS', 'ID']);
  t.deepEqual(lines[3]!.trim().split(/\s+/), ['default/pod-0', 'READY', '1.0%', '2.0Ki', '1', 'aaaaaaaaaaaaa']);
  t.regex(lines[4]!, /^ {2}app-0 +RUNNING +1\.0% +2\.0Ki +1 +ccccccccccccc$/);
  t.is(lines.length, 23);
  t.true(lines.every((line) => line.length <= 140));
  t.is(frame({}, 100)[0], 'crion top · 03:04:05 · 10 pods (10 ready) · 10 containers (10 running) · sort: cpu · filter: none ·…', 'cut to the width');
});

test('rows past the height are counted on the last line; a narrow terminal loses the ID column first', (t) => {
  const lines = frame({ height: 8 }, 60);
  t.is(lines.length, 8);
  t.is(lines[7], '… 16 more rows; a filter (/) narrows the list');
  t.deepEqual(lines[2]!.split(/\s+/), ['NAME', 'STATE', 'CPU', 'MEMORY', 'RESTARTS']);
  t.true(lines.every((line) => line.length <= 60));
});

test('a failed refresh is shown over the last snapshot; the filter being typed replaces the keys line', (t) => {
  const failed = frame({ error: { at: new Date(2026, 0, 2, 3, 4, 9), message: 'cannot reach the crion daemon' } });
  t.is(failed[1], 'refresh failed at 03:04:09, retrying: cannot reach the crion daemon');
  t.regex(failed[3]!, /^default\/pod-0/);
  const typing = frame({ view: { ...INITIAL_VIEW, draft: 'pod-1' } });
  t.is(typing[1], 'filter: pod-1  Enter applies, Esc clears');
  const filtered = frame({ view: { ...INITIAL_VIEW, filter: 'pod-1' } });
  t.regex(filtered[0]!, /filter: pod-1 /);
  t.deepEqual(
    filtered.slice(3).map((line) => line.trim().split(/\s+/)[0]),
    ['default/pod-1', 'app-1'],
  );
});

test('--once prints every row, without the keys line', (t) => {
  const text = snapshotText(ENDPOINT, SNAPSHOT, INITIAL_VIEW, 120);
  const lines = text.trimEnd().split('\n');
  t.is(lines.length, 2 + 20);
  t.regex(lines[1]!, /^NAME/);
  t.true(text.endsWith('\n'));
});
