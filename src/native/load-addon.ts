import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PLATFORM_PACKAGE, platformDirs } from './platform-package.js';
import type * as Addon from './addon.js';

/** The addon's exports, as declared by the `.d.ts` that napi generates from the Rust source. */
export type NativeAddon = typeof Addon;

/** Points at a `.node` file to load instead of the one in this package. */
export const ADDON_PATH_ENV = 'CRION_NATIVE_ADDON';

const ADDON_FILE = 'crion.linux-x64-gnu.node';

/**
 * Checked on load so that an addon built from older Rust source fails here,
 * naming what it lacks, instead of at the first call.
 */
const REQUIRED_EXPORTS = [
  'probeHost',
  'unpackLayer',
  'createPodNamespaces',
  'removePodNamespaces',
  'preparePrivateMountDir',
  'mountOverlay',
  'unmountOverlay',
  'mountPodShm',
  'unmountPodShm',
  'watchExit',
  'pidAlive',
  'openPty',
  'setWindowSize',
  'connectInNetns',
] as const satisfies readonly (keyof NativeAddon)[];

export interface LoadAttempt {
  /** The path that was tried. */
  readonly candidate: string;
  readonly failure: string;
}

export class NativeAddonLoadError extends Error {
  readonly code = 'ERR_NATIVE_ADDON_LOAD';

  constructor(readonly attempts: readonly LoadAttempt[]) {
    super(
      [
        "Cannot load crion's native addon. Tried:",
        ...attempts.map((attempt) => `  - ${attempt.candidate}: ${attempt.failure}`),
        `Build it with \`npm run build:native\`, install the ${PLATFORM_PACKAGE} package beside crion, or set ${ADDON_PATH_ENV} to a built ${ADDON_FILE}.`,
      ].join('\n'),
    );
    this.name = 'NativeAddonLoadError';
  }
}

let loaded: NativeAddon | undefined;

/**
 * Loads the addon on first use and returns the same module afterwards.
 *
 * With `$CRION_NATIVE_ADDON` set, that file is the only candidate: an
 * operator who names a build must get that build or an error, never another
 * one found further down. Otherwise the package's own
 * `npm/linux-x64-gnu/` (where `npm run build:native` writes) comes first,
 * then the installed platform package (platform-package.ts).
 */
export function loadAddon(): NativeAddon {
  loaded ??= loadFirst(addonCandidates());
  return loaded;
}

function addonCandidates(): string[] {
  const override = process.env[ADDON_PATH_ENV];
  if (override) return [path.resolve(override)];
  return platformDirs().map((dir) => path.join(dir, ADDON_FILE));
}

function loadFirst(candidates: readonly string[]): NativeAddon {
  const require = createRequire(import.meta.url);
  const attempts: LoadAttempt[] = [];
  for (const candidate of candidates) {
    if (!existsSync(candidate)) {
      attempts.push({ candidate, failure: 'not found' });
      continue;
    }
    let exports: Partial<NativeAddon>;
    try {
      exports = require(candidate) as Partial<NativeAddon>;
    } catch (error) {
      attempts.push({ candidate, failure: describeRequireFailure(error) });
      continue;
    }
    const missing = REQUIRED_EXPORTS.filter((name) => typeof exports[name] !== 'function');
    if (missing.length > 0) {
      attempts.push({ candidate, failure: `loaded, but does not export ${missing.join(', ')}` });
      continue;
    }
    return exports as NativeAddon;
  }
  throw new NativeAddonLoadError(attempts);
}

function describeRequireFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // Only the first line: the rest of MODULE_NOT_FOUND's message is the require stack.
  if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return 'not found';
  return error.message.split('\n', 1)[0] ?? error.message;
}
