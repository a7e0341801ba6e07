// Generates TypeScript types for every CRI message and service into src/generated/.
// The options come from the same JSON file the daemon's loader uses, so the types
// always describe the objects grpc-js actually hands to the handlers.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const options = JSON.parse(readFileSync(path.join(root, 'src/cri/proto-loader-options.json'), 'utf8'));
const outDir = path.join(root, 'src/generated');

const flags = [];
for (const [name, value] of Object.entries(options)) {
  if (value === true) flags.push(`--${name}`);
  else if (typeof value === 'string') flags.push(`--${name}=${value}`);
}

rmSync(outDir, { recursive: true, force: true });
execFileSync(
  path.join(root, 'node_modules/.bin/proto-loader-gen-types'),
  // The file name goes first: the tool's array-valued flags swallow any operand after them.
  [
    'runtime/v1/api.proto',
    ...flags,
    '--grpcLib=@grpc/grpc-js',
    '--includeComments',
    '--importFileExtension=.js',
    `--outDir=${outDir}`,
    `--includeDirs=${path.join(root, 'proto')}`,
  ],
  { stdio: 'inherit' },
);
