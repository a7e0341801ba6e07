import test from 'ava';
import { signalNumber } from '../../src/container/signal-number.js';

const CASES: Array<[string, number | null]> = [
  ['TERM', 15],
  ['SIGTERM', 15],
  ['KILL', 9],
  ['QUIT', 3],
  ['USR1', 10],
  ['WINCH', 28],
  ['9', 9],
  ['RTMIN', 34],
  ['RTMINPLUS3', 37],
  ['RTMIN+3', 37],
  ['SIGRTMIN+3', 37],
  ['RTMAX', 64],
  ['RTMAXMINUS1', 63],
  ['RTMAX-1', 63],
  ['RTMAX+1', null],
  ['0', null],
  ['65', null],
  ['NOSUCH', null],
  ['', null],
];

for (const [name, number] of CASES) {
  test(`${name || '(empty)'} is ${String(number)}`, (t) => {
    t.is(signalNumber(name), number);
  });
}
