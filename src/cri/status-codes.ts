import { status, type StatusObject } from '@grpc/grpc-js';
import { CrionError, type CrionErrorKind } from '../errors.js';

/** The one place where domain errors become gRPC status codes. */
const STATUS_BY_KIND: Record<CrionErrorKind, status> = {
  'invalid-argument': status.INVALID_ARGUMENT,
  'not-found': status.NOT_FOUND,
  'already-exists': status.ALREADY_EXISTS,
  'failed-precondition': status.FAILED_PRECONDITION,
  'resource-exhausted': status.RESOURCE_EXHAUSTED,
  'deadline-exceeded': status.DEADLINE_EXCEEDED,
  unavailable: status.UNAVAILABLE,
  unimplemented: status.UNIMPLEMENTED,
  'permission-denied': status.PERMISSION_DENIED,
  cancelled: status.CANCELLED,
  'plugin-refused': status.UNKNOWN,
};

export interface MappedError {
  status: Pick<StatusObject, 'code' | 'details'>;
  /** True when the error is a bug or an unforeseen failure rather than a domain outcome. */
  unexpected: boolean;
}

/**
 * Domain errors keep their message: it was written for the client. Anything
 * else may carry paths, stack traces or secrets, so the client gets a generic
 * text and the detail goes to the log only.
 */
export function toGrpcStatus(error: unknown): MappedError {
  if (error instanceof CrionError) {
    return { status: { code: STATUS_BY_KIND[error.kind], details: error.message }, unexpected: false };
  }
  return {
    status: { code: status.UNKNOWN, details: 'internal error in crion; see the daemon log for details' },
    unexpected: true,
  };
}
