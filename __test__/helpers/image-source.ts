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
