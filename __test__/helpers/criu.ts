import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { program, type Missing } from './host-checks.js';
import { repoRoot } from './repo.js';

/**
 * The CRIU that scripts/criu.sh builds (Debian 12's own cannot read current
 * kernels' vDSO); daemon.ts hands it to every test daemon.
 */
export const criuPath: string = execFileSync('bash', [path.join(repoRoot, 'scripts', 'criu.sh'), 'path'], { encoding: 'utf8' }).trim();

/** CRIU is built and passes its own check of this kernel. */
export const workingCriu: Missing = program(criuPath, ['check']);
