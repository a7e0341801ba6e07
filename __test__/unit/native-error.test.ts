import test from 'ava';
import { callNative, NativeError } from '../../src/native/native-error.js';

const coded = (): Error => Object.assign(new Error('opening /x: No such file or directory (os error 2)'), { code: 'ERR_X' });

test('a coded error thrown by a synchronous call comes back as a NativeError with its cause', (t) => {
  const thrown = coded();
  const error = t.throws(
    () =>
      callNative(() => {
        throw thrown;
      }),
    { instanceOf: NativeError },
  );
  t.like(error, { code: 'ERR_X', message: thrown.message, cause: thrown });
});

test('a coded rejection comes back as a NativeError; a value comes back as it is', async (t) => {
  const thrown = coded();
  const error = await t.throwsAsync(
    callNative(() => Promise.reject(thrown)),
    { instanceOf: NativeError },
  );
  t.like(error, { code: 'ERR_X', cause: thrown });
  t.is(await callNative(() => Promise.resolve(7)), 7);
  t.is(
    callNative(() => 'sync'),
    'sync',
  );
});

test('an error without a string code is a bug, and is left alone', async (t) => {
  const bug = new TypeError('undefined is not a function');
  t.is(
    t.throws(() =>
      callNative(() => {
        throw bug;
      }),
    ),
    bug,
  );
  t.is(await t.throwsAsync(callNative(() => Promise.reject(bug))), bug);
});

test("a module's own rebuild replaces the default one", async (t) => {
  const mapped = new RangeError('mapped');
  t.is(
    await t.throwsAsync(
      callNative(
        () => Promise.reject(coded()),
        () => mapped,
      ),
    ),
    mapped,
  );
});
