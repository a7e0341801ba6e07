/**
 * An error the addon threw, rebuilt in one place so that callers can test
 * `instanceof` and get a stack through their own call site (an error made
 * when an async task settles has none). `code` is the stable identifier the
 * Rust side gives each failure (e.g. `ERR_HOST_PROBE_READ`); the message
 * holds the whole cause chain.
 */
export class NativeError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options: { cause: unknown },
  ) {
    super(message, options);
    this.name = 'NativeError';
  }
}

/** Leaves anything without a string `code` alone: that is a bug, not a native failure. */
export function rebuildNativeError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const { code } = error as { code?: unknown };
  return typeof code === 'string' ? new NativeError(code, error.message, { cause: error }) : error;
}
