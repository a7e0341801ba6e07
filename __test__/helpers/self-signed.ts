import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * A P-256 key and a self-signed certificate for it, made by openssl in
 * `dir`. By default for localhost and 127.0.0.1, as test servers listen.
 */
export async function selfSignedCertificate(
  dir: string,
  {
    commonName = 'localhost',
    subjectAltName = 'DNS:localhost,IP:127.0.0.1',
    days = 1,
  }: { commonName?: string; subjectAltName?: string | null; days?: number } = {},
): Promise<{ certFile: string; keyFile: string }> {
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  await execFileAsync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-sha256',
    '-days',
    String(days),
    '-subj',
    `/CN=${commonName}`,
    ...(subjectAltName === null ? [] : ['-addext', `subjectAltName=${subjectAltName}`]),
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ]);
  return { certFile, keyFile };
}
