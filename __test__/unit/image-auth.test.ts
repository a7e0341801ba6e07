import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import test, { type ExecutionContext } from 'ava';
import { ConfigError } from '../../src/config/config-error.js';
import { InvalidArgumentError } from '../../src/errors.js';
import {
  authFileCredentials,
  credentialsFromAuthConfig,
  loadAuthFile,
  normalizeAuthKey,
  parseChallenges,
  RegistryAuth,
  resolveCredentials,
  type AuthFile,
  type AuthTarget,
  type CriAuthConfig,
} from '../../src/image/auth.js';
import { HttpTransport } from '../../src/image/registry-http.js';
import { createLogger } from '../../src/log/logger.js';

const b64 = (text: string): string => Buffer.from(text).toString('base64');
const none: CriAuthConfig = {
  username: '',
  password: '',
  auth: '',
  serverAddress: '',
  identityToken: '',
  registryToken: '',
};

test('a Bearer challenge with quoted values holding commas', (t) => {
  t.deepEqual(
    parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",' + 'scope="repository:library/busybox:pull,push"'),
    [
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/busybox:pull,push',
        },
      },
    ],
  );
});

test('several challenges in one header, with spacing, case and escapes', (t) => {
  t.deepEqual(parseChallenges('Basic realm="Registry Realm", BEARER Realm = "https://a/token" , error=invalid_token'), [
    { scheme: 'basic', params: { realm: 'Registry Realm' } },
    { scheme: 'bearer', params: { realm: 'https://a/token', error: 'invalid_token' } },
  ]);
  t.deepEqual(parseChallenges('Bearer realm="a \\"quoted\\" realm"'), [{ scheme: 'bearer', params: { realm: 'a "quoted" realm' } }]);
  t.deepEqual(parseChallenges('Basic'), [{ scheme: 'basic', params: {} }]);
  t.deepEqual(parseChallenges(''), []);
  t.deepEqual(parseChallenges('Bearer realm="unterminated'), [{ scheme: 'bearer', params: { realm: 'unterminated' } }]);
});

test('CRI AuthConfig: tokens, then username and password, then auth', (t) => {
  t.is(credentialsFromAuthConfig(none), null);
  t.deepEqual(credentialsFromAuthConfig({ ...none, username: 'u', password: 'p' }), {
    kind: 'basic',
    username: 'u',
    password: 'p',
  });
  t.deepEqual(credentialsFromAuthConfig({ ...none, auth: b64('user:pa:ss') }), {
    kind: 'basic',
    username: 'user',
    password: 'pa:ss',
  });
  t.deepEqual(credentialsFromAuthConfig({ ...none, identityToken: 'refresh', username: 'u' }), {
    kind: 'identity-token',
    token: 'refresh',
  });
  t.deepEqual(credentialsFromAuthConfig({ ...none, registryToken: 'tok', identityToken: 'refresh' }), {
    kind: 'registry-token',
    token: 'tok',
  });
  const error = t.throws(() => credentialsFromAuthConfig({ ...none, auth: b64('no-colon-secret') }), {
    instanceOf: InvalidArgumentError,
  });
  t.false(error.message.includes('no-colon-secret'));
});

test('auth file keys are normalized the way kubelet and Docker write them', (t) => {
  t.is(normalizeAuthKey('https://index.docker.io/v1/'), 'docker.io');
  t.is(normalizeAuthKey('registry-1.docker.io'), 'docker.io');
  t.is(normalizeAuthKey('docker.io/myorg'), 'docker.io/myorg');
  t.is(normalizeAuthKey('https://registry.example.com'), 'registry.example.com');
  t.is(normalizeAuthKey('http://registry.example.com:5000/v2/'), 'registry.example.com:5000');
  t.is(normalizeAuthKey('registry.example.com/team/'), 'registry.example.com/team');
});

async function writeAuthFile(t: ExecutionContext, content: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-auth-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'config.json');
  await writeFile(file, content);
  return file;
}

test('the auth file matches the longest key: repository path, then registry', async (t) => {
  const file = await writeAuthFile(
    t,
    JSON.stringify({
      auths: {
        'https://index.docker.io/v1/': { auth: b64('hub:hubpass') },
        'registry.example.com': { auth: b64('any:anypass') },
        'registry.example.com/team': { username: 'team', password: 'teampass' },
        'registry.example.com/team/app': { identitytoken: 'refresh-token' },
        'quay.io': { email: 'ignored@example.com' },
      },
      credsStore: 'desktop',
    }),
  );
  const auths = await loadAuthFile(file);
  t.is(auths.source, file);
  t.deepEqual(authFileCredentials(auths, 'docker.io', 'library/busybox'), {
    kind: 'basic',
    username: 'hub',
    password: 'hubpass',
  });
  t.deepEqual(authFileCredentials(auths, 'registry.example.com', 'team/app'), {
    kind: 'identity-token',
    token: 'refresh-token',
  });
  t.deepEqual(authFileCredentials(auths, 'registry.example.com', 'team/app2'), {
    kind: 'basic',
    username: 'team',
    password: 'teampass',
  });
  t.deepEqual(authFileCredentials(auths, 'registry.example.com', 'teamx/app'), {
    kind: 'basic',
    username: 'any',
    password: 'anypass',
  });
  t.is(authFileCredentials(auths, 'registry.example.com:5000', 'team/app'), null);
  t.is(authFileCredentials(auths, 'quay.io', 'app'), null, 'an entry without credentials is none');
});

test('a legacy .dockercfg map without "auths"', async (t) => {
  const file = await writeAuthFile(t, JSON.stringify({ 'quay.io': { auth: b64('u:p') }, credsStore: 'x' }));
  t.deepEqual(authFileCredentials(await loadAuthFile(file), 'quay.io', 'a/b'), {
    kind: 'basic',
    username: 'u',
    password: 'p',
  });
});

test('no auth file, or a missing one, is empty', async (t) => {
  t.is((await loadAuthFile('')).entries.size, 0);
  t.is((await loadAuthFile('/nonexistent/crion/config.json')).entries.size, 0);
});

test('a malformed auth file is a ConfigError that names the entry but not the secret', async (t) => {
  const cases: ReadonlyArray<readonly [string, string | null, string]> = [
    ['{', null, 'not JSON'],
    ['[]', null, 'must be a JSON object'],
    ['{"auths": []}', 'auths', 'must be an object'],
    ['{"auths": {"quay.io": "x"}}', 'auths."quay.io"', 'must be an object'],
    ['{"auths": {"quay.io": {"password": 5}}}', 'auths."quay.io".password', 'must be a string'],
    [`{"auths": {"quay.io": {"auth": "${b64('secret-without-colon')}"}}}`, 'auths."quay.io".auth', 'is not base64'],
  ];
  for (const [content, key, reason] of cases) {
    const file = await writeAuthFile(t, content);
    const error = await t.throwsAsync(loadAuthFile(file), { instanceOf: ConfigError });
    t.is(error.key, key);
    t.true(error.reason.startsWith(reason), error.reason);
    t.false(error.message.includes('secret'));
  }
});

test('the CRI AuthConfig wins for its server; elsewhere the auth file answers', (t) => {
  const file: AuthFile = {
    source: 'config.json',
    entries: new Map([['mirror.local', { kind: 'basic', username: 'm', password: 'mp' } as const]]),
  };
  const cri: CriAuthConfig = { ...none, username: 'u', password: 'p', serverAddress: 'https://index.docker.io/v1/' };
  const basic = { kind: 'basic', username: 'u', password: 'p' };
  t.deepEqual(resolveCredentials(cri, file, 'docker.io', 'library/busybox'), basic);
  t.deepEqual(resolveCredentials(cri, file, 'mirror.local', 'library/busybox'), {
    kind: 'basic',
    username: 'm',
    password: 'mp',
  });
  t.is(resolveCredentials(cri, file, 'quay.io', 'app'), null);
  t.deepEqual(resolveCredentials({ ...cri, serverAddress: '' }, file, 'mirror.local', 'app'), basic);
  t.deepEqual(resolveCredentials({ ...cri, serverAddress: 'quay.io/team' }, file, 'quay.io', 'team/app'), basic);
  t.deepEqual(resolveCredentials(none, file, 'mirror.local', 'app'), { kind: 'basic', username: 'm', password: 'mp' });
  t.is(resolveCredentials(null, file, 'docker.io', 'library/busybox'), null);
});

const quietLog = () => createLogger({ level: 'error', format: 'json', destination: new PassThrough() });

test('tokens are cached per scope and credentials until they expire, and asked for once at a time', async (t) => {
  const scopes: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '', 'http://x');
    const who = req.headers.authorization === undefined ? 'anonymous' : 'alice';
    scopes.push(`${url.searchParams.get('scope')} ${who}`);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: `token-${scopes.length}`, expires_in: 60 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const transport = new HttpTransport({ certsDir: '/nonexistent', connectTimeoutMs: 1000, idleTimeoutMs: 1000 });
  t.teardown(() => transport.close());
  let now = 0;
  const auth = new RegistryAuth(transport, quietLog(), () => now);
  const target: AuthTarget = {
    registry: 'registry.example.com',
    repository: 'team/app',
    credentials: null,
    tls: { registry: 'registry.example.com', insecure: false },
  };
  t.is(await auth.authorization(target), null, 'nothing is sent before a challenge');
  const { port } = server.address() as AddressInfo;
  t.true(auth.challenged(target, `Bearer realm="http://127.0.0.1:${port}/token",service="svc"`));

  const [first, second] = await Promise.all([auth.authorization(target), auth.authorization(target)]);
  t.is(first, 'Bearer token-1');
  t.is(second, 'Bearer token-1');
  t.is(await auth.authorization(target), 'Bearer token-1');
  t.is(await auth.authorization({ ...target, repository: 'team/other' }), 'Bearer token-2');
  const alice = { kind: 'basic', username: 'alice', password: 'pw' } as const;
  t.is(await auth.authorization({ ...target, credentials: alice }), 'Bearer token-3');
  now = 56_000;
  t.is(await auth.authorization(target), 'Bearer token-4', 'renewed shortly before expires_in');
  t.deepEqual(scopes, [
    'repository:team/app:pull anonymous',
    'repository:team/other:pull anonymous',
    'repository:team/app:pull alice',
    'repository:team/app:pull anonymous',
  ]);
});

test('a Basic challenge is answered only with a password, a registry token never twice', (t) => {
  const transport = new HttpTransport({ certsDir: '/nonexistent', connectTimeoutMs: 1000, idleTimeoutMs: 1000 });
  const auth = new RegistryAuth(transport, quietLog());
  const target: AuthTarget = {
    registry: 'r.example.com',
    repository: 'app',
    credentials: null,
    tls: { registry: 'r.example.com', insecure: false },
  };
  t.false(auth.challenged(target, 'Basic realm="r"'));
  const basic = { ...target, credentials: { kind: 'basic', username: 'u', password: 'p' } } as const;
  t.true(auth.challenged(basic, 'Basic realm="r"'));
  const registryToken = { ...target, credentials: { kind: 'registry-token', token: 't' } } as const;
  t.false(auth.challenged(registryToken, 'Bearer realm="https://a"'));
  t.false(auth.challenged(target, undefined));
  t.false(auth.challenged(target, 'Bearer service="no realm"'));
});
