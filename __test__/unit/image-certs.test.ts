import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { ConfigError } from '../../src/config/config-error.js';
import { loadRegistryTls } from '../../src/image/certs.js';

async function certsDir(t: ExecutionContext, files: Readonly<Record<string, string>>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-certs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  return dir;
}

test('a registry without a directory gets nothing extra', async (t) => {
  const dir = await certsDir(t, {});
  t.deepEqual(await loadRegistryTls(dir, 'quay.io'), { ca: [], clientCert: null });
  t.deepEqual(await loadRegistryTls(path.join(dir, 'missing'), 'quay.io'), { ca: [], clientCert: null });
});

test('*.crt files are CAs and a .cert/.key pair is the client certificate, per host:port', async (t) => {
  const dir = await certsDir(t, {
    'localhost:5000/b.crt': 'CA B',
    'localhost:5000/a.crt': 'CA A',
    'localhost:5000/client.cert': 'CERT',
    'localhost:5000/client.key': 'KEY',
    'localhost:5000/README': 'ignored',
    'localhost/other.crt': 'not for port 5000',
  });
  t.deepEqual(await loadRegistryTls(dir, 'localhost:5000'), {
    ca: ['CA A', 'CA B'],
    clientCert: { cert: 'CERT', key: 'KEY' },
  });
  t.deepEqual(await loadRegistryTls(dir, 'localhost'), { ca: ['not for port 5000'], clientCert: null });
});

test('half a client pair is a ConfigError naming the file', async (t) => {
  const keyOnly = await certsDir(t, { 'r.example.com/client.key': 'KEY' });
  const error = await t.throwsAsync(loadRegistryTls(keyOnly, 'r.example.com'), { instanceOf: ConfigError });
  t.is(error.source, path.join(keyOnly, 'r.example.com', 'client.key'));
  t.is(error.reason, 'client key without a matching .cert file');
  const certOnly = await certsDir(t, { 'r.example.com/client.cert': 'CERT' });
  await t.throwsAsync(loadRegistryTls(certOnly, 'r.example.com'), {
    instanceOf: ConfigError,
    message: `${path.join(certOnly, 'r.example.com', 'client.cert')}: client certificate without a matching .key file`,
  });
});
