import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { publishCritestImages } from './critest-images.js';
import { startSharedRegistry, type Registry } from './registry.js';
import { publishTestImages, type TestImages } from './test-images.js';

/**
 * Where an e2e file's daemons pull from: one loopback docker-registry for
 * the file holding the harness's test images (and, when asked, critest's
 * stand-ins, whose pause image runs a shared-PID pod's infra container),
 * and a registries.conf that lets the daemon reach it over plain HTTP.
 */
export interface ImageSource {
  readonly registry: Registry;
  readonly images: TestImages;
  /** The `[image]` table of a daemon's crion.conf that points it here; `extra` lines follow it. */
  daemonConfig(...extra: string[]): string;
  dispose(): Promise<void>;
}

export async function startImageSource(options: { critestImages?: boolean } = {}): Promise<ImageSource> {
  const registry = await startSharedRegistry();
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-image-source-'));
  try {
    const images = await publishTestImages(registry);
    if (options.critestImages) await publishCritestImages(registry);
    const registriesConf = path.join(dir, 'registries.conf');
    await writeFile(registriesConf, `[[registry]]\nlocation = "${registry.host}"\ninsecure = true\n`);
    return {
      registry,
      images,
      daemonConfig: (...extra) =>
        [
          '[image]',
          `registries_conf = "${registriesConf}"`,
          // The host's drop-ins must not reach the test's daemon.
          'registries_conf_dir = "/nonexistent"',
          ...(options.critestImages ? [`pause_image = "${registry.host}/pause:3.10"`] : []),
          ...extra,
          '',
        ].join('\n'),
      dispose: async () => {
        await registry.dispose();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await registry.dispose();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** The part of ava's test function the hooks need. */
interface HookRegistrar {
  before(fn: () => Promise<void>): void;
  after: { always(fn: () => Promise<void>): void };
}

/**
 * One image source for every test of a file: started in `test.before`,
 * disposed in `test.after.always`, read through the returned object once
 * the tests run.
 */
export function sharedImageSource(test: HookRegistrar, options: { critestImages?: boolean } = {}): ImageSource {
  let started: ImageSource | undefined;
  test.before(async () => {
    started = await startImageSource(options);
  });
  test.after.always(async () => {
    await started?.dispose();
  });
  const current = (): ImageSource => {
    if (started === undefined) throw new Error('the image source is read before test.before started it');
    return started;
  };
  return {
    get registry() {
      return current().registry;
    },
    get images() {
      return current().images;
    },
    daemonConfig: (...extra) => current().daemonConfig(...extra),
    dispose: () => current().dispose(),
  };
}
