import { InvalidArgumentError } from '../errors.js';
import type { ProfileRequest } from './security-profile.js';
import type { HostFacts } from './spec-inputs.js';

/**
 * process.apparmorProfile, or null for none. On a node with AppArmor an
 * unset request means the runtime default (kubernetes#51746), which
 * privileged containers skip; a named profile applies even to them, as in
 * containerd. Without AppArmor the default and unconfined mean nothing and
 * are dropped, but a named profile is refused: silently running a container
 * without the confinement it asked for would be worse than failing.
 */
export function apparmorProfile(request: ProfileRequest, privileged: boolean, apparmor: HostFacts['apparmor'], field: string): string | null {
  if (apparmor === null) {
    if (request.kind === 'localhost') {
      throw new InvalidArgumentError(`${field}: profile "${request.ref}" was asked for, but AppArmor is not enabled on this node`);
    }
    return null;
  }
  switch (request.kind) {
    case 'unconfined':
      return null;
    case 'unset':
    case 'runtime-default':
      return privileged ? null : apparmor.defaultProfile;
    case 'localhost':
      return request.ref;
  }
}
