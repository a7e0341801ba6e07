import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../config/config-error.js';

/**
 * Per-registry TLS material as containers-certs.d(5) lays it out, so a
 * host set up for Podman or CRI-O works unchanged:
 * `<dir>/<host[:port]>/*.crt` are extra CA certificates (added to the
 * system roots, not replacing them), and `<name>.cert` with `<name>.key` is
 * a client certificate. A missing directory means nothing extra. The
 * directory is named after the registry as written in the image name
 * (`docker.io`, `localhost:5000`), not the host it resolves to.
 */

export const DEFAULT_CERTS_DIR = '/etc/containers/certs.d';

export interface RegistryTls {
  /** PEM CA certificates to trust besides the system roots. */
  readonly ca: readonly string[];
  /** PEM client certificate and key, presented when the registry asks. */
  readonly clientCert: { readonly cert: string; readonly key: string } | null;
}

/** Throws ConfigError naming the file when the directory is unreadable or a key has no certificate. */
export async function loadRegistryTls(certsDir: string, registry: string): Promise<RegistryTls> {
  const dir = path.join(certsDir, registry);
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { ca: [], clientCert: null };
    throw new ConfigError(dir, null, `cannot list the directory (${code})`, { cause: error });
  }
  const read = async (name: string): Promise<string> => {
    const file = path.join(dir, name);
    try {
      return await readFile(file, 'utf8');
    } catch (error) {
      throw new ConfigError(file, null, `cannot read (${(error as NodeJS.ErrnoException).code})`, { cause: error });
    }
  };
  const ca = await Promise.all(names.filter((name) => name.endsWith('.crt')).map(read));
  const certs = names.filter((name) => name.endsWith('.cert'));
  const keys = names.filter((name) => name.endsWith('.key'));
  for (const key of keys) {
    if (!certs.includes(`${key.slice(0, -'.key'.length)}.cert`)) {
      throw new ConfigError(path.join(dir, key), null, 'client key without a matching .cert file');
    }
  }
  const pairs = certs.map((cert) => {
    const key = `${cert.slice(0, -'.cert'.length)}.key`;
    if (!keys.includes(key)) {
      throw new ConfigError(path.join(dir, cert), null, 'client certificate without a matching .key file');
    }
    return { cert, key };
  });
  // A TLS connection presents one client identity; with several pairs the first by name is it.
  const pair = pairs[0];
  return {
    ca,
    clientCert: pair === undefined ? null : { cert: await read(pair.cert), key: await read(pair.key) },
  };
}
