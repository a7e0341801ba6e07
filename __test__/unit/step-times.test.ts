import test from 'ava';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger, type LogLevel } from '../../src/log/logger.js';
import { stepTimes } from '../../src/log/step-times.js';

function capturedLogger(level: LogLevel) {
  const output = new PassThrough();
  let text = '';
  output.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { log: createLogger({ level, format: 'json', destination: output }), lines: () => text.split('\n').filter((line) => line !== '') };
}

test('at debug, one line gives each step its time, a repeated step the sum, overlapping steps each their own', async (t) => {
  const { log, lines } = capturedLogger('debug');
  const steps = stepTimes(log, 'RunPodSandbox steps');
  t.is(await steps.time('record', () => sleep(5, 'saved')), 'saved');
  await Promise.all([steps.time('CNI ADD', () => sleep(20)), steps.time('infra container', () => sleep(20))]);
  await steps.time('record', () => sleep(5));
  steps.done({ podSandboxId: 'p1' });
  const [line] = lines().map((text) => JSON.parse(text) as { msg: string; podSandboxId: string; totalMs: number; stepsMs: Record<string, number> });
  t.is(line?.msg, 'RunPodSandbox steps');
  t.is(line?.podSandboxId, 'p1');
  t.deepEqual(Object.keys(line!.stepsMs).sort(), ['CNI ADD', 'infra container', 'record']);
  t.true(line!.stepsMs.record! >= 9, 'both records are counted');
  t.true(line!.stepsMs['CNI ADD']! >= 19 && line!.stepsMs['infra container']! >= 19);
  t.true(line!.totalMs >= 29 && line!.totalMs < line!.stepsMs.record! + line!.stepsMs['CNI ADD']! + line!.stepsMs['infra container']!);
});

test('a step that fails is timed and its error passes through', async (t) => {
  const { log, lines } = capturedLogger('debug');
  const steps = stepTimes(log, 'CreateContainer steps');
  await t.throwsAsync(
    steps.time('monitor + runtime create', () => Promise.reject(new Error('runc create failed'))),
    { message: 'runc create failed' },
  );
  steps.done({});
  t.true('monitor + runtime create' in (JSON.parse(lines()[0]!) as { stepsMs: object }).stepsMs);
});

test('at info it logs nothing and only runs the work', async (t) => {
  const { log, lines } = capturedLogger('info');
  const steps = stepTimes(log, 'StartContainer steps');
  t.is(await steps.time('runtime start', () => Promise.resolve(42)), 42);
  steps.done({ containerId: 'c1' });
  t.deepEqual(lines(), []);
});
