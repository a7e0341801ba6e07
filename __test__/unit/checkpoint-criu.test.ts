import test from 'ava';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Criu } from '../../src/checkpoint/criu.js';

/** A stand-in criu: `--version` prints a version, `check` runs `check` (a shell snippet), and each check is counted. */
async function fakeCriu(t: { teardown(fn: () => Promise<void>): void }, check: string): Promise<{ binary: string; checks: () => Promise<number> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-fake-criu-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const binary = path.join(dir, 'criu');
  const counter = path.join(dir, 'checks');
  await writeFile(binary, `#!/bin/sh\ncase "$1" in\n  --version) echo 'Version: 3.17.1' ;;\n  check) echo x >>'${counter}'; ${check} ;;\nesac\n`);
  await chmod(binary, 0o755);
  return { binary, checks: async () => (await readFile(counter, 'utf8').catch(() => '')).split('\n').filter(Boolean).length };
}

test("a CRIU that fails its check is refused with CRIU's first error line, the cause, and asked again next time", async (t) => {
  const { binary, checks } = await fakeCriu(
    t,
    "echo 'Warn  (criu/kerndat.c:1285): Can'\"'\"'t keep kdat cache on non-tempfs' >&2; " +
      "echo 'Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds' >&2; echo 'Error (criu/cr-check.c:1630): Could not initialize kernel features detection.' >&2; exit 1",
  );
  const criu = new Criu(binary);
  t.deepEqual(await criu.status(), {
    available: false,
    reason: `\`${binary} check\` failed: Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds`,
  });
  await t.throwsAsync(criu.require(), {
    name: 'FailedPreconditionError',
    message: `checkpoint and restore need a working CRIU: \`${binary} check\` failed: Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds`,
  });
  t.is(await checks(), 2);
});

test('a working CRIU is checked once and its version reported', async (t) => {
  const { binary, checks } = await fakeCriu(t, "echo 'Looks good.'");
  const criu = new Criu(binary);
  t.deepEqual(await criu.status(), { available: true, version: '3.17.1' });
  t.is(await criu.require(), binary);
  t.is(await checks(), 1);
});

test('a CRIU that is not there names the setting', async (t) => {
  const criu = new Criu('/nonexistent/criu');
  t.deepEqual(await criu.status(), { available: false, reason: '/nonexistent/criu was not found (runtime.criu_path)' });
});
