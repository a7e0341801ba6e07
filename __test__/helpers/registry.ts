/**
 * Loopback container registries for the tests: Debian's `docker-registry`
 * (distribution 2.8) on 127.0.0.1 with a free port and a private storage
 * directory, open, behind Basic auth (htpasswd), or behind token auth with the
 * harness's own token service. The test machines reach no real registry, so
 * every pull test serves its images from one of these.
 *
 *   const registry = await startRegistry(t, { auth: 'token' });
 *   const images = await publishTestImages(registry);
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { freePort } from './free-port.js';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Teardown } from './daemon.js';
import { RegistryClient, type Credentials } from './registry-client.js';
import { TOKEN_ISSUER, TokenService, tokenSigner } from './token-service.js';

export type RegistryAuth = 'none' | 'basic' | 'token';

export interface RegistryOptions {
  /** Defaults to 'none'. */
  auth?: RegistryAuth;
  readyTimeoutMs?: number;
}

/** The only account the protected variants accept. */
export const REGISTRY_CREDENTIALS: Readonly<Credentials> = { username: 'crion', password: 'crion-test-password' };

/**
 * bcrypt of REGISTRY_CREDENTIALS.password, the only hash htpasswd auth takes.
 * Cost 4 because the registry re-checks it on every request (cost 12 is 0.25 s each).
 * Made with Python's `crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))`;
 * `htpasswd -nbB -C 4 crion crion-test-password` makes an equivalent one.
 */
const PASSWORD_BCRYPT = '$2b$04$rg2B/hascvJFOrTM4RUwvOIuQcn4.CyughJEtL2Kziv3ho4SGapsK';

/** The `service` of token auth: the JWT audience the registry accepts. */
export const TOKEN_SERVICE_NAME = 'crion-test-registry';

const REGISTRY_BIN = '/usr/bin/docker-registry';
const DEFAULT_READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

/** Every registry not yet reaped, so a crashing test process cannot leave one behind. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export class Registry {
  private output = '';
  private readonly exited: Promise<void>;
  private running = true;

  private constructor(
    readonly auth: RegistryAuth,
    /** `127.0.0.1:PORT`: the registry host part of image references. */
    readonly host: string,
    /** Temp dir with the config, htpasswd and storage; removed on dispose. */
    readonly dir: string,
    private readonly child: ChildProcess,
    /** The token variant's token service; null for the others. */
    readonly tokenService: TokenService | null,
  ) {
    live.add(child);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
    this.exited = new Promise((resolve) => {
      child.on('close', () => {
        live.delete(child);
        this.running = false;
        resolve();
      });
    });
  }

  /** Starts one and waits until `GET /v2/` answers; the caller disposes of it. */
  static async start(options: RegistryOptions = {}): Promise<Registry> {
    const auth = options.auth ?? 'none';
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-registry-'));
    const tokenService = auth === 'token' ? await TokenService.start({ service: TOKEN_SERVICE_NAME, credentials: REGISTRY_CREDENTIALS }) : null;
    // A free port can be taken between the probe and the registry's bind; try again on a new one.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const configPath = path.join(dir, 'config.yml');
      await writeFile(configPath, await registryConfig(dir, port, auth, tokenService));
      const child = spawn(REGISTRY_BIN, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
      const registry = new Registry(auth, `127.0.0.1:${port}`, dir, child, tokenService);
      child.on('error', (error) => (registry.output += `spawn ${REGISTRY_BIN}: ${error.message} (apt-get install docker-registry)\n`));
      try {
        await registry.waitReady(options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
        return registry;
      } catch (error) {
        await registry.stopProcess();
        if (attempt < 3 && /address already in use/.test(registry.output)) continue;
        await tokenService?.close();
        await rm(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }

  /** `http://127.0.0.1:PORT`. */
  get url(): string {
    return `http://${this.host}`;
  }

  /** Where the filesystem driver keeps everything: blobs, repositories, uploads. */
  get rootDirectory(): string {
    return path.join(this.dir, 'storage');
  }

  /** The account a client needs, or null for the open variant. */
  get credentials(): Credentials | null {
    return this.auth === 'none' ? null : { ...REGISTRY_CREDENTIALS };
  }

  /** The registry's own log (stderr and stdout): where a failed request's reason is. */
  get logs(): string {
    return this.output;
  }

  /** A client with this registry's credentials (or `credentials` if given, null for none). */
  client(credentials: Credentials | null = this.credentials): RegistryClient {
    return new RegistryClient(this.url, credentials);
  }

  /**
   * Replaces a stored blob's bytes behind the registry's back, for corrupt-content
   * tests: the API verifies digests on upload, but serving reads the file as is.
   */
  async overwriteBlob(digest: string, data: Buffer): Promise<void> {
    const [algorithm, hex] = digest.split(':') as [string, string];
    const blobPath = path.join(this.rootDirectory, 'docker/registry/v2/blobs', algorithm, hex.slice(0, 2), hex, 'data');
    await writeFile(blobPath, data, { flag: 'r+' });
  }

  async dispose(): Promise<void> {
    await this.stopProcess();
    await this.tokenService?.close();
    await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
  }

  private async stopProcess(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    // An unref'd timer: a pending one would keep the test process alive after a quick exit.
    const timeout = sleep(STOP_TIMEOUT_MS, false, { ref: false });
    const stopped = await Promise.race([this.exited.then(() => true), timeout]);
    if (!stopped) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw this.failure('docker-registry exited before serving');
      try {
        const response = await fetch(`${this.url}/v2/`, { signal: AbortSignal.timeout(1_000) });
        await response.arrayBuffer();
        // 401 is how the protected variants say they are up.
        if (response.status === 200 || response.status === 401) return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) throw this.failure(`docker-registry did not serve ${this.url} within ${timeoutMs} ms`);
      await sleep(25);
    }
  }

  private failure(message: string): Error {
    return new Error(`${message}\n--- docker-registry output ---\n${this.output}`);
  }
}

/** Starts a registry that the test's teardown disposes of. */
export async function startRegistry(t: Teardown, options: RegistryOptions = {}): Promise<Registry> {
  const registry = await Registry.start(options);
  t.teardown(() => registry.dispose());
  return registry;
}

/**
 * For a registry shared by the tests of one file: ava runs a hook's teardown as soon
 * as the hook ends, so the caller disposes of it in `test.after.always` instead.
 */
export function startSharedRegistry(options: RegistryOptions = {}): Promise<Registry> {
  return Registry.start(options);
}

async function registryConfig(dir: string, port: number, auth: RegistryAuth, tokenService: TokenService | null): Promise<string> {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(path.join(dir, 'storage'))}`,
    '  delete:',
    '    enabled: true',
    // The purger is a background job for abandoned uploads; nothing lives long enough to need it.
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    // Without a fixed secret it logs a warning and makes one up; set one to keep the log clean.
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  if (auth === 'basic') {
    const htpasswd = path.join(dir, 'htpasswd');
    await writeFile(htpasswd, `${REGISTRY_CREDENTIALS.username}:${PASSWORD_BCRYPT}\n`);
    lines.push('auth:', '  htpasswd:', '    realm: crion-test', `    path: ${JSON.stringify(htpasswd)}`);
  }
  if (auth === 'token') {
    const bundle = path.join(dir, 'token-root.pem');
    await writeFile(bundle, (await tokenSigner()).certificatePem);
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${JSON.stringify(tokenService!.realm)}`,
      `    service: ${TOKEN_SERVICE_NAME}`,
      `    issuer: ${TOKEN_ISSUER}`,
      `    rootcertbundle: ${JSON.stringify(bundle)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
