import test from 'ava';
import { openSync, closeSync, fstatSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../src/log/logger.js';
import { formatTextLine, stderrIsJournal } from '../../src/log/text-format.js';

/** `--log-format text`: one line per record that journalctl shows whole and a person can split into its keys. */

function textLines(journal: boolean, write: (log: ReturnType<typeof createLogger>) => void): string[] {
  const output = new PassThrough();
  let text = '';
  output.on('data', (chunk: Buffer) => (text += chunk.toString()));
  write(createLogger({ level: 'debug', format: 'text', destination: output, journal }));
  return text.split('\n').slice(0, -1);
}

test('a record is one line: time, level, message, then key=value in the order logged', (t) => {
  const lines = textLines(false, (log) =>
    log.child({ rpc: 'StartContainer' }).info({ pod: 'web', namespace: 'shop', attempt: 0, nested: { a: 1 } }, 'container started'),
  );
  t.is(lines.length, 1);
  t.regex(
    lines[0]!,
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}container started rpc=StartContainer pod=web namespace=shop attempt=0 nested="\{\\"a\\":1\}"$/,
  );
});

test('values with spaces, quotes or = are quoted, so the line still splits into its keys', (t) => {
  const [line] = textLines(false, (log) => log.warn({ reason: 'image "x" not found', selector: 'a=b', empty: '' }, 'rpc failed'));
  t.true(line!.endsWith(' WARN  rpc failed reason="image \\"x\\" not found" selector="a=b" empty=""'), line);
});

test('an error is its message and code on the same line, not a multi-line stack', (t) => {
  const error = Object.assign(new Error('mount failed:\n  EBUSY'), { code: 'ERR_MOUNT' });
  const lines = textLines(false, (log) => log.error({ err: error, podSandboxId: 'p1' }, 'cannot run the pod'));
  t.is(lines.length, 1);
  t.true(lines[0]!.endsWith(' ERROR cannot run the pod err="mount failed:\\n  EBUSY (ERR_MOUNT)" podSandboxId=p1'), lines[0]);
});

test('for the journal each line starts with its sd-daemon priority instead of a time', (t) => {
  const lines = textLines(true, (log) => {
    log.debug('probing');
    log.info('serving CRI');
    log.warn('slow');
    log.error('failed');
  });
  t.deepEqual(lines, ['<7>DEBUG probing', '<6>INFO  serving CRI', '<4>WARN  slow', '<3>ERROR failed']);
  t.is(formatTextLine({ level: 'fatal', msg: 'gone' }, { journal: true }), '<2>FATAL gone\n');
});

test('stderr is the journal only when JOURNAL_STREAM names the very stream it is', (t) => {
  const fd = openSync('/dev/null', 'w');
  t.teardown(() => closeSync(fd));
  const { dev, ino } = fstatSync(fd);
  t.true(stderrIsJournal({ JOURNAL_STREAM: `${dev}:${ino}` }, fd));
  t.false(stderrIsJournal({ JOURNAL_STREAM: `${dev}:${ino + 1}` }, fd), 'inherited by a process whose stderr went elsewhere');
  t.false(stderrIsJournal({}, fd));
  t.false(stderrIsJournal({ JOURNAL_STREAM: 'garbage' }, fd));
});
