import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { critest, type CritestResult } from '../helpers/critest.js';
import { startSharedDaemon, type Daemon } from '../helpers/daemon.js';

// critest specs clean up after themselves, so one daemon serves every run in this file.
const test = anyTest as TestFn<{ daemon: Daemon }>;

test.before(async (t) => {
  // The default network the daemon writes at start makes NetworkReady true.
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

// pkg/validate/runtime_info.go: needs both RuntimeReady and NetworkReady true.
// (critest's client also calls ImageFsInfo before any spec, so every spec needs that RPC.)
test('critest: runtime should return runtime conditions', async (t) => {
  const result = await critest(t.context.daemon, { focus: 'runtime should return runtime conditions' });
  assertPassed(t, result, 1);
});
