import { InvalidArgumentError } from '../errors.js';
import type { LinuxContainerSecurityContext__Output } from '../generated/runtime/v1/LinuxContainerSecurityContext.js';
import type { LinuxSandboxSecurityContext__Output } from '../generated/runtime/v1/LinuxSandboxSecurityContext.js';
import { MAX_ID, int64Field } from './cri-values.js';

/**
 * Who the first process of a container runs as: the CRI security context
 * wins over the image's USER, names are looked up in the image's own
 * /etc/passwd and /etc/group (the caller reads them from the rootfs and
 * passes the text), and supplementary groups follow containerd, which the
 * kubelet and critest are written against.
 */

export interface ResolvedUser {
  readonly uid: number;
  readonly gid: number;
  /**
   * The supplementary groups, ascending and without repeats. They always
   * include `gid`, as Docker and containerd do, so that dropping to the
   * supplementary list alone (setgroups in a child) keeps the primary group.
   */
  readonly additionalGids: readonly number[];
}

/** A container's or a pod's security context; only containers may name a user. */
export type UserSecurityContext = LinuxContainerSecurityContext__Output | LinuxSandboxSecurityContext__Output;

const FIELD = 'linux.security_context';

export function resolveUser(
  securityContext: UserSecurityContext | null,
  imageUser: string,
  passwd: string | null,
  group: string | null,
): ResolvedUser {
  const users = passwd === null ? null : parsePasswd(passwd);
  const groups = group === null ? null : parseGroup(group);
  const username = securityContext !== null && 'runAsUsername' in securityContext ? securityContext.runAsUsername : '';
  const runAsUser = securityContext?.runAsUser ?? null;
  const runAsGroup = securityContext?.runAsGroup ?? null;

  if (username !== '' && runAsUser !== null) {
    throw new InvalidArgumentError(`${FIELD}: run_as_user and run_as_username are mutually exclusive`);
  }
  if (runAsGroup !== null && username === '' && runAsUser === null) {
    throw new InvalidArgumentError(`${FIELD}.run_as_group is set without run_as_user or run_as_username`);
  }

  let identity: { uid: number; gid: number; name: string | null };
  if (username !== '') {
    const entry = userByName(users, username);
    identity = { uid: entry.uid, gid: entry.gid, name: entry.name };
  } else if (runAsUser !== null) {
    const uid = int64Field(runAsUser.value, `${FIELD}.run_as_user`, 0, MAX_ID);
    const entry = users?.find((user) => user.uid === uid) ?? null;
    identity = { uid, gid: entry?.gid ?? 0, name: entry?.name ?? null };
  } else {
    identity = imageIdentity(imageUser, users, groups);
  }
  const gid = runAsGroup === null ? identity.gid : int64Field(runAsGroup.value, `${FIELD}.run_as_group`, 0, MAX_ID);

  const additional = new Set<number>([gid]);
  // Merge (the default) adds the groups the image's /etc/group lists the user in, as `docker run` does.
  if (securityContext?.supplementalGroupsPolicy !== 'Strict' && identity.name !== null && groups !== null) {
    for (const entry of groups) {
      if (entry.members.includes(identity.name)) additional.add(entry.gid);
    }
  }
  for (const value of securityContext?.supplementalGroups ?? []) {
    additional.add(int64Field(value, `${FIELD}.supplemental_groups`, 0, MAX_ID));
  }
  return { uid: identity.uid, gid, additionalGids: [...additional].sort((a, b) => a - b) };
}

/** The image's USER: `user`, `uid`, `user:group`, `uid:gid`, or the mixed forms; empty is root. */
function imageIdentity(
  imageUser: string,
  users: readonly PasswdEntry[] | null,
  groups: readonly GroupEntry[] | null,
): { uid: number; gid: number; name: string | null } {
  const parts = imageUser.split(':');
  if (parts.length > 2) {
    throw new InvalidArgumentError(`the image's USER "${imageUser}" is not user, uid, user:group or uid:gid`);
  }
  const [userPart = '', groupPart] = parts;
  let uid: number;
  let entry: PasswdEntry | null;
  if (userPart === '') {
    uid = 0;
    entry = users?.find((user) => user.uid === 0) ?? null;
  } else if (isNumeric(userPart)) {
    uid = numericId(userPart, `the image's USER "${imageUser}"`);
    entry = users?.find((user) => user.uid === uid) ?? null;
  } else {
    entry = userByName(users, userPart);
    uid = entry.uid;
  }
  let gid = entry?.gid ?? 0;
  if (groupPart !== undefined && groupPart !== '') {
    gid = isNumeric(groupPart) ? numericId(groupPart, `the image's USER "${imageUser}"`) : groupByName(groups, groupPart).gid;
  }
  return { uid, gid, name: entry?.name ?? null };
}

function userByName(users: readonly PasswdEntry[] | null, name: string): PasswdEntry {
  if (users === null) throw new InvalidArgumentError(`user "${name}" not found: the image has no /etc/passwd`);
  const entry = users.find((user) => user.name === name);
  if (entry === undefined) throw new InvalidArgumentError(`user "${name}" not found in the image's /etc/passwd`);
  return entry;
}

function groupByName(groups: readonly GroupEntry[] | null, name: string): GroupEntry {
  if (groups === null) throw new InvalidArgumentError(`group "${name}" not found: the image has no /etc/group`);
  const entry = groups.find((candidate) => candidate.name === name);
  if (entry === undefined) throw new InvalidArgumentError(`group "${name}" not found in the image's /etc/group`);
  return entry;
}

function isNumeric(text: string): boolean {
  return /^\d+$/.test(text);
}

function numericId(text: string, where: string): number {
  const value = Number(text);
  if (value > MAX_ID) throw new InvalidArgumentError(`${where}: ID ${text} is above ${MAX_ID}`);
  return value;
}

interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

/** passwd(5) lines; blank, comment and NIS (`+`/`-`) lines and lines with non-numeric IDs are skipped, as libc does. */
function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const fields of records(text)) {
    const [name = '', , uid = '', gid = ''] = fields;
    if (isNumeric(uid) && isNumeric(gid)) entries.push({ name, uid: Number(uid), gid: Number(gid) });
  }
  return entries;
}

function parseGroup(text: string): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const fields of records(text)) {
    const [name = '', , gid = '', members = ''] = fields;
    if (isNumeric(gid)) {
      entries.push({
        name,
        gid: Number(gid),
        members: members
          .split(',')
          .map((m) => m.trim())
          .filter(Boolean),
      });
    }
  }
  return entries;
}

function* records(text: string): Generator<string[]> {
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith('+') || trimmed.startsWith('-')) continue;
    yield trimmed.split(':');
  }
}
