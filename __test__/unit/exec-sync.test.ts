import test from 'ava';
import { fitOutput } from '../../src/container/exec-sync.js';

const bytes = (length: number, fill: string) => Buffer.alloc(length, fill);

test('output within the budget is returned whole', (t) => {
  const { stdout, stderr } = fitOutput(bytes(60, 'o'), bytes(40, 'e'), 100);
  t.is(stdout.length, 60);
  t.is(stderr.length, 40);
});

test('past the budget, stderr keeps at least half and stdout the rest, each cut at its end', (t) => {
  const { stdout, stderr } = fitOutput(bytes(300, 'o'), bytes(300, 'e'), 100);
  t.deepEqual([stdout.length, stderr.length], [50, 50]);
  t.true(stdout.equals(bytes(50, 'o')));
});

test('a short stderr leaves the rest of the budget to stdout, and a short stdout the rest to stderr', (t) => {
  const long = fitOutput(bytes(300, 'o'), bytes(10, 'e'), 100);
  t.deepEqual([long.stdout.length, long.stderr.length], [90, 10]);
  const quiet = fitOutput(bytes(10, 'o'), bytes(300, 'e'), 100);
  t.deepEqual([quiet.stdout.length, quiet.stderr.length], [10, 90]);
});
