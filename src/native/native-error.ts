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

/**
 * Calls into the addon, rethrowing what the call throws, or what its promise
 * rejects with, rebuilt by `rebuild` ({@link rebuildNativeError} unless a
 * module maps some codes to errors of its own). Every export of src/native
 * goes through it. An async caller should `return await` it, so that its
 * own frame is in the rebuilt error's stack.
 */
export function callNative<T>(call: () => Promise<T>, rebuild?: (error: unknown) => unknown): Promise<T>;
export function callNative<T>(call: () => T, rebuild?: (error: unknown) => unknown): T;
export function callNative<T>(
  call: () => T | Promise<T>,
  rebuild: (error: unknown) => unknown = rebuildNativeError,
): T | Promise<T> {
  let result: T | Promise<T>;
  try {
    result = call();
  } catch (error) {
    throw rebuild(error);
  }
  return result instanceof Promise ? rebuildRejection(result, rebuild) : result;
}

async function rebuildRejection<T>(pending: Promise<T>, rebuild: (error: unknown) => unknown): Promise<T> {
  try {
    return await pending;
  } catch (error) {
    throw rebuild(error);
  }
}
