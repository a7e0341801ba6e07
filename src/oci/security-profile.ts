import { InvalidArgumentError } from '../errors.js';
import type { SecurityProfile__Output } from '../generated/runtime/v1/SecurityProfile.js';

/**
 * Which seccomp or AppArmor profile a request asks for. CRI has two ways to
 * say it: the `SecurityProfile` message, and the deprecated string field
 * (`runtime/default`, `unconfined`, `localhost/<ref>`) that older kubelets
 * still send. The message wins when both are present, as in containerd.
 */
export type ProfileRequest =
  | { readonly kind: 'unset' }
  | { readonly kind: 'unconfined' }
  | { readonly kind: 'runtime-default' }
  | { readonly kind: 'localhost'; readonly ref: string };

const LOCALHOST_PREFIX = 'localhost/';

export function profileRequest(profile: SecurityProfile__Output | null, legacy: string, field: string): ProfileRequest {
  if (profile !== null) {
    switch (profile.profileType) {
      case 'Unconfined':
      case 'RuntimeDefault':
        if (profile.localhostRef !== '') {
          throw new InvalidArgumentError(`${field}.localhost_ref is only valid with profile_type Localhost`);
        }
        return profile.profileType === 'Unconfined' ? { kind: 'unconfined' } : { kind: 'runtime-default' };
      case 'Localhost': {
        // The prefix is not meant to be there, but older clients copy the legacy form into the message.
        const ref = profile.localhostRef.startsWith(LOCALHOST_PREFIX) ? profile.localhostRef.slice(LOCALHOST_PREFIX.length) : profile.localhostRef;
        if (ref === '') {
          throw new InvalidArgumentError(`${field}.localhost_ref is required with profile_type Localhost`);
        }
        return { kind: 'localhost', ref };
      }
    }
  }
  if (legacy === '') return { kind: 'unset' };
  if (legacy === 'unconfined') return { kind: 'unconfined' };
  // docker/default is the name the kubelet used before runtime/default.
  if (legacy === 'runtime/default' || legacy === 'docker/default') return { kind: 'runtime-default' };
  if (legacy.startsWith(LOCALHOST_PREFIX) && legacy.length > LOCALHOST_PREFIX.length) {
    return { kind: 'localhost', ref: legacy.slice(LOCALHOST_PREFIX.length) };
  }
  throw new InvalidArgumentError(`${field}: "${legacy}" is not runtime/default, unconfined or localhost/<profile>`);
}
