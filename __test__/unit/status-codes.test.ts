import test from 'ava';
import { status } from '@grpc/grpc-js';
import {
  AlreadyExistsError,
  CancelledError,
  DeadlineExceededError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  UnavailableError,
  UnimplementedError,
} from '../../src/errors.js';
import { toGrpcStatus } from '../../src/cri/status-codes.js';

const cases = [
  [new InvalidArgumentError('bad'), status.INVALID_ARGUMENT],
  [new NotFoundError('bad'), status.NOT_FOUND],
  [new AlreadyExistsError('bad'), status.ALREADY_EXISTS],
  [new FailedPreconditionError('bad'), status.FAILED_PRECONDITION],
  [new ResourceExhaustedError('bad'), status.RESOURCE_EXHAUSTED],
  [new DeadlineExceededError('bad'), status.DEADLINE_EXCEEDED],
  [new UnavailableError('bad'), status.UNAVAILABLE],
  [new UnimplementedError('bad'), status.UNIMPLEMENTED],
  [new PermissionDeniedError('bad'), status.PERMISSION_DENIED],
  [new CancelledError('bad'), status.CANCELLED],
] as const;

for (const [error, code] of cases) {
  test(`${error.name} becomes ${status[code]} with its own message`, (t) => {
    t.deepEqual(toGrpcStatus(error), { status: { code, details: 'bad' }, unexpected: false });
  });
}

test('an unexpected error becomes UNKNOWN and hides its detail from the client', (t) => {
  const mapped = toGrpcStatus(new Error('EACCES: /var/lib/crion/secret-path'));
  t.is(mapped.status.code, status.UNKNOWN);
  t.true(mapped.unexpected);
  t.notRegex(mapped.status.details, /secret-path/);
});

test('a thrown non-Error is unexpected too', (t) => {
  t.is(toGrpcStatus('boom').status.code, status.UNKNOWN);
});
