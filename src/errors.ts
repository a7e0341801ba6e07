/**
 * Domain errors. Domain modules throw these; only the gRPC layer
 * (src/cri/status-codes.ts) knows which status code each one becomes.
 * The message is shown to the client, so it must say what was wrong
 * without leaking secrets.
 */
export abstract class CrionError extends Error {
  abstract readonly kind: CrionErrorKind;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export type CrionErrorKind =
  | 'invalid-argument'
  | 'not-found'
  | 'already-exists'
  | 'failed-precondition'
  | 'resource-exhausted'
  | 'deadline-exceeded'
  | 'unavailable'
  | 'unimplemented'
  | 'permission-denied'
  | 'cancelled'
  | 'plugin-refused';

/** The request is malformed or contradicts itself; retrying it unchanged cannot succeed. */
export class InvalidArgumentError extends CrionError {
  readonly kind = 'invalid-argument';
}

/** The named object does not exist. */
export class NotFoundError extends CrionError {
  readonly kind = 'not-found';
}

/** A name or ID is already taken by another object. */
export class AlreadyExistsError extends CrionError {
  readonly kind = 'already-exists';
}

/** The object exists but is in the wrong state for the request (e.g. starting a stopped container). */
export class FailedPreconditionError extends CrionError {
  readonly kind = 'failed-precondition';
}

/** A configured limit or a host resource ran out. */
export class ResourceExhaustedError extends CrionError {
  readonly kind = 'resource-exhausted';
}

/** The operation did not finish within the time the caller allowed. */
export class DeadlineExceededError extends CrionError {
  readonly kind = 'deadline-exceeded';
}

/** A dependency (registry, OCI runtime, CNI plugin) could not be reached; retrying may help. */
export class UnavailableError extends CrionError {
  readonly kind = 'unavailable';
}

/** The RPC or option is not implemented by this runtime. */
export class UnimplementedError extends CrionError {
  readonly kind = 'unimplemented';
}

/** Credentials were refused or missing. */
export class PermissionDeniedError extends CrionError {
  readonly kind = 'permission-denied';
}

/** The caller gave up on the operation (cancelled the call, or let its deadline pass). */
export class CancelledError extends CrionError {
  readonly kind = 'cancelled';
}

/** An NRI plugin failed the RunPodSandbox or CreateContainer it was told of; as containerd, the call fails with UNKNOWN. */
export class PluginRefusedError extends CrionError {
  readonly kind = 'plugin-refused';
}
