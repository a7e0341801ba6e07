import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { critest, type CritestResult } from '../helpers/critest.js';
import { startSharedDaemon, type Daemon } from '../helpers/daemon.js';

// critest specs clean up after themselves, so one daemon serves every run in this file.
const test = anyTest as TestFn<{ daemon: Daemon }>;

test.before(async (t) => {
  t.context.daemon = await startSharedDaemon();
});

test.after.always(async (t) => {
  await t.context.daemon?.dispose();
});

/** A critest run passes only if specs actually ran: a focus that matches nothing also "succeeds". */
function assertPassed(t: ExecutionContext, result: CritestResult, expectedSpecs: number): void {
  if (result.code !== 0 || !result.succeeded || result.ran !== expectedSpecs) t.log(result.output);
  t.is(result.code, 0, 'critest exit code');
  t.true(result.succeeded, 'ginkgo did not report SUCCESS!');
  t.is(result.ran, expectedSpecs, `ran ${result.ran} of ${result.total} specs`);
}

// pkg/validate/runtime_info.go: "[k8s.io] Runtime info runtime should support returning
// runtime info runtime should return version info [Conformance]".
test('critest: runtime should return version info', async (t) => {
  const result = await critest(t.context.daemon, { focus: 'version info' });
  assertPassed(t, result, 1);
});

// The sibling spec needs both RuntimeReady and NetworkReady true; ava reports this
// test as soon as it passes, which is the cue to make it a plain test. (critest's
// client also calls ImageFsInfo before any spec, so every spec needs that RPC.)
test.failing('critest: runtime should return runtime conditions (needs NetworkReady)', async (t) => {
  const result = await critest(t.context.daemon, { focus: 'runtime should return runtime conditions' });
  assertPassed(t, result, 1);
});
