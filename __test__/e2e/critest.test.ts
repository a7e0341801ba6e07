import test from 'ava';
import { assertGroupPassed, critestGroup, CRITEST_GROUPS, CRITEST_NOT_RUN, CRITEST_SKIP, type CritestGroup } from '../helpers/critest-groups.js';
import { startDaemon } from '../helpers/daemon.js';
import { run } from '../helpers/process.js';
import { toolFromEnv } from '../helpers/repo.js';

/** critest v1.37's validation suite: its 142 specs but the 5 benchmarks, which only `critest -benchmark` runs. */
const CRITEST_SPECS = 137;

// pkg/validate/runtime_info.go: version info, and the runtime conditions, which need RuntimeReady and
// NetworkReady true (the default network the daemon writes at start makes the network ready).
test('critest runtime info specs pass', async (t) => {
  const daemon = await startDaemon(t);
  assertGroupPassed(t, CRITEST_GROUPS.runtimeInfo, await critestGroup(daemon, CRITEST_GROUPS.runtimeInfo));
});

/** The specs critest would run, from its dry run: ginkgo prints each one's full text after a rule of dashes. */
async function critestSpecs(): Promise<string[]> {
  const result = await run(toolFromEnv('CRION_CRITEST'), [
    '--ginkgo.dry-run',
    '--ginkgo.v',
    '--ginkgo.no-color',
    '--runtime-endpoint=unix:///nonexistent',
  ]);
  if (result.code !== 0) throw new Error(`critest --ginkgo.dry-run: ${result.stderr}`);
  return result.stdout
    .split(/^-{30}$/m)
    .map((block) => block.trim().split('\n')[0] ?? '')
    .filter((line) => line.startsWith('[k8s.io]'));
}

test('every critest spec is run by one group of the suite or named as not run, with the reason', async (t) => {
  const specs = await critestSpecs();
  t.is(specs.length, CRITEST_SPECS, specs.join('\n'));
  const skip = new RegExp(CRITEST_SKIP);
  const groups = Object.entries(CRITEST_GROUPS) as Array<[string, CritestGroup]>;
  const owners = (spec: string) => groups.filter(([, group]) => new RegExp(group.focus).test(spec) && !skip.test(spec)).map(([name]) => name);
  const excluded = (spec: string) => CRITEST_NOT_RUN.filter((exclusion) => new RegExp(exclusion.specs).test(spec));

  t.deepEqual(
    specs.filter((spec) => owners(spec).length + excluded(spec).length !== 1),
    [],
    'specs run by no group or by more than one, or both run and excluded',
  );
  for (const [name, group] of groups) {
    t.is(specs.filter((spec) => owners(spec).includes(name)).length, group.specs, `the ${name} group's count`);
  }
  for (const exclusion of CRITEST_NOT_RUN) {
    t.is(specs.filter((spec) => excluded(spec).includes(exclusion)).length, exclusion.count, `not run: ${exclusion.specs}`);
  }
});
