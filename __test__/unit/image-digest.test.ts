import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import test from 'ava';
import { InvalidArgumentError } from '../../src/errors.js';
import { digestHex, digestOf, DigestingStream, digestProblem, isDigest, parseDigest } from '../../src/image/digest.js';

const HELLO = 'sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';

test('digestOf hashes bytes and strings alike', (t) => {
  t.is(digestOf('hello'), HELLO);
  t.is(digestOf(Buffer.from('hello')), HELLO);
  t.is(digestHex(HELLO), HELLO.slice('sha256:'.length));
});

test('parseDigest accepts sha256 only, and says why otherwise', (t) => {
  t.is(parseDigest(HELLO), HELLO);
  t.true(isDigest(HELLO));
  t.false(isDigest(HELLO.toUpperCase()));
  t.is(digestProblem(`sha512:${'a'.repeat(128)}`), 'digest algorithm "sha512" is not supported; crion verifies sha256 only');
  t.is(digestProblem('sha256:abc'), 'a sha256 digest has exactly 64 lowercase hex digits');
  t.is(digestProblem('abc'), 'expected "sha256:" followed by 64 hex digits');
  const error = t.throws(() => parseDigest('md5:x'), { instanceOf: InvalidArgumentError });
  t.is(error.message, 'invalid digest "md5:x": digest algorithm "md5" is not supported; crion verifies sha256 only');
});

test('DigestingStream passes bytes through while hashing and counting them', async (t) => {
  const chunks = ['he', 'll', 'o'];
  const digester = new DigestingStream();
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks.map((chunk) => Buffer.from(chunk))),
    digester,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        out.push(chunk);
        callback();
      },
    }),
  );
  t.is(Buffer.concat(out).toString(), 'hello');
  t.is(digester.bytes, 5);
  t.is(digester.digest(), `sha256:${createHash('sha256').update('hello').digest('hex')}`);
});
