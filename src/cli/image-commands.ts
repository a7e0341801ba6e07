import type { Command } from 'commander';
import { adminSocketFor } from '../admin/admin-server.js';
import { watchPulls } from '../admin/admin-client.js';
import { configSourcesFrom, loadConfig } from '../config/index.js';
import { CriImageClient } from '../cri/client.js';
import { unixEndpoint } from '../cri/unix-socket.js';
import type { PullProgress } from '../image/pull-progress.js';
import { createPullView, formatBytes } from './pull-view.js';

/**
 * `crion pull`, `crion images`, `crion rmi`: operator commands that talk to
 * the running daemon over its CRI socket, as the kubelet does. The socket is
 * `--listen`, else $CRION_ENDPOINT, else the one the config files name: the
 * order crictl gives its flag and $CONTAINER_RUNTIME_ENDPOINT.
 */

export const ENDPOINT_ENV = 'CRION_ENDPOINT';

export interface EndpointOptions {
  listen?: string;
  config?: string;
  configDir?: string;
}

export function withEndpointOptions(command: Command): Command {
  return command
    .option('--listen <url>', `the daemon's CRI socket, unix:///path or /path (default: $${ENDPOINT_ENV}, else listen from the config files)`)
    .option('--config <file>', 'config file to read the socket from (default: /etc/crion/crion.conf)')
    .option('--config-dir <dir>', 'drop-in directory to read the socket from (default: /etc/crion/crion.conf.d)');
}

export async function endpointOf(options: EndpointOptions, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (options.listen !== undefined) return endpointFromText(options.listen, '--listen');
  // Set but empty is unset, so `CRION_ENDPOINT= crion images` falls back as a shell user expects.
  const fromEnv = env[ENDPOINT_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return endpointFromText(fromEnv, ENDPOINT_ENV);
  const { config } = await loadConfig(configSourcesFrom(options), []);
  return config.listen;
}

function endpointFromText(text: string, from: string): string {
  const endpoint = unixEndpoint(text);
  if (endpoint === null) throw new Error(`${from}: expected "unix://" followed by an absolute path, or the absolute path alone; got "${text}"`);
  return endpoint;
}

async function withClient<T>(options: EndpointOptions, use: (client: CriImageClient, listen: string) => Promise<T>): Promise<T> {
  const listen = await endpointOf(options);
  const client = await CriImageClient.connect(listen);
  try {
    return await use(client, listen);
  } finally {
    client.close();
  }
}

export function addImageCommands(program: Command): void {
  withEndpointOptions(program.command('pull <image>').description('pull an image through the daemon, showing per-layer progress')).action(
    (image: string, options: EndpointOptions) =>
      withClient(options, async (client, listen) => {
        const view = createPullView(process.stderr);
        let followed: number | null = null;
        // The board may still show earlier pulls of this name; follow the one that is running (ours, or one ours joined).
        const watcher = watchPulls(adminSocketFor(listen), (pull: PullProgress) => {
          if (followed === null && pull.image === image && pull.stage !== 'done' && pull.stage !== 'failed') followed = pull.id;
          if (pull.id === followed) view.update(pull);
        });
        // Progress is a courtesy: without the side socket the pull still runs, just silently.
        await watcher.ready.catch(() => undefined);
        try {
          const imageId = await client.pull(image);
          process.stdout.write(`${imageId}\n`);
        } finally {
          watcher.stop();
        }
      }),
  );

  withEndpointOptions(program.command('images').description('list the images in the store')).action((options: EndpointOptions) =>
    withClient(options, async (client) => {
      const rows = (await client.list()).flatMap((image) => {
        const names = image.repoTags.length > 0 ? image.repoTags : ['<none>'];
        return names.map((name) => [name, image.id.replace('sha256:', '').slice(0, 12), formatBytes(Number(image.size))]);
      });
      printTable([['IMAGE', 'IMAGE ID', 'SIZE'], ...rows]);
    }),
  );

  withEndpointOptions(program.command('rmi <image...>').description('remove images by name, digest or ID (a name removes only that tag)')).action(
    (images: string[], options: EndpointOptions) =>
      withClient(options, async (client) => {
        const missing = await removeImages(client, images, (line) => process.stdout.write(`${line}\n`));
        if (missing.length > 0) throw new Error(`no such image: ${missing.join(', ')}`);
      }),
  );
}

/** What `rmi` needs of the client, so a fake can stand in for the daemon. */
export interface ImageRemover {
  status(image: string): Promise<unknown>;
  remove(image: string): Promise<void>;
}

/**
 * CRI RemoveImage succeeds for an image that is not there (the kubelet relies
 * on it being idempotent), so only asking first tells the operator of a typo.
 * Removes every image that exists and returns the names that matched none.
 */
export async function removeImages(client: ImageRemover, images: readonly string[], print: (line: string) => void): Promise<string[]> {
  const missing: string[] = [];
  for (const image of images) {
    if ((await client.status(image)) === null) {
      missing.push(image);
      continue;
    }
    await client.remove(image);
    print(`removed ${image}`);
  }
  return missing;
}

function printTable(rows: readonly (readonly string[])[]): void {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows) {
    process.stdout.write(
      `${row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('   ')
        .trimEnd()}\n`,
    );
  }
}
