import test from 'ava';
import { PassThrough } from 'node:stream';
import { CleanupStack } from '../../src/lifecycle/cleanup-stack.js';
import { createLogger } from '../../src/log/logger.js';

function capturedLogger() {
  const output = new PassThrough();
  let text = '';
  output.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { log: createLogger({ level: 'error', format: 'json', destination: output }), text: () => text };
}

test('a failed create unwinds its steps in reverse, and a failing step does not stop the others', async (t) => {
  const { log, text } = capturedLogger();
  const undone: string[] = [];
  const error = await t.throwsAsync(
    CleanupStack.run(log, async (cleanup) => {
      cleanup.push('first', () => void undone.push('first'));
      cleanup.push('broken', () => {
        throw new Error('umount failed');
      });
      cleanup.push('third', async () => void undone.push('third'));
      throw new Error('runc create failed');
    }),
  );
  t.is(error.message, 'runc create failed');
  t.deepEqual(undone, ['third', 'first']);
  t.regex(text(), /"step":"broken"/);
});

test('a successful create undoes nothing', async (t) => {
  const { log } = capturedLogger();
  const undone: string[] = [];
  const result = await CleanupStack.run(log, async (cleanup) => {
    cleanup.push('step', () => void undone.push('step'));
    return 42;
  });
  t.is(result, 42);
  t.deepEqual(undone, []);
});
