import { Option, type Command } from 'commander';
import { adminDocument, adminGet, errorOf, type AdminAnswer } from '../admin/admin-client.js';
import type { AmbiguousIdError } from '../admin/admin-routes.js';
import { adminSocketFor } from '../admin/admin-server.js';
import type { InfoDocument } from '../admin/info-document.js';
import { CriImageClient, CriRuntimeClient } from '../cri/client.js';
import { InvalidArgumentError, NotFoundError } from '../errors.js';
import { endpointOf, withEndpointOptions, type EndpointOptions } from './image-commands.js';
import { formatStatus, gatherStatus } from './status-report.js';

/**
 * `crion status` and `crion inspect`: what the daemon is and what it holds,
 * for an operator on the node. Status asks CRI first, so a daemon that is
 * not there is reported as the other commands report it.
 */

export function addInspectCommands(program: Command): void {
  withEndpointOptions(program.command('status').description('readiness, versions, runtime handlers, network and what the daemon holds'))
    .addOption(new Option('-o, --output <format>', 'how to print the report').choices(['text', 'json']).default('text'))
    .action(async (options: EndpointOptions & { output: 'text' | 'json' }) => {
      const listen = await endpointOf(options);
      const runtime = await CriRuntimeClient.connect(listen);
      try {
        const images = await CriImageClient.connect(listen);
        try {
          const adminSocket = adminSocketFor(listen);
          const report = await gatherStatus(runtime, images, await adminDocument<InfoDocument>(adminSocket, '/info'), adminSocket);
          process.stdout.write(options.output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
        } finally {
          images.close();
        }
      } finally {
        runtime.close();
      }
    });

  withEndpointOptions(
    program.command('inspect <id>').description('a pod or a container by ID or unique ID prefix, with its paths and processes, as JSON'),
  ).action(async (id: string, options: EndpointOptions) => {
    if (id === '') throw new InvalidArgumentError('an ID or the start of one is needed');
    const socket = adminSocketFor(await endpointOf(options));
    const route = encodeURIComponent(id);
    const [container, pod] = await Promise.all([adminGet(socket, `/containers/${route}`), adminGet(socket, `/pods/${route}`)]);
    process.stdout.write(`${JSON.stringify(pickInspected(id, container, pod), null, 2)}\n`);
  });
}

/** The prefix starts the IDs of several pods and containers; `candidates` are "container <id>" and "pod <id>". */
export class AmbiguousPrefixError extends InvalidArgumentError {
  constructor(
    readonly prefix: string,
    readonly candidates: readonly string[],
  ) {
    super(`"${prefix}" is ambiguous: it starts the IDs of ${candidates.join(', ')}`);
  }
}

/**
 * The one pod or container the prefix names, from the daemon's answers for
 * both kinds: pods and containers have IDs of the same form, so a prefix can
 * start one of each. Throws NotFoundError or AmbiguousPrefixError.
 */
export function pickInspected(prefix: string, container: AdminAnswer, pod: AdminAnswer): unknown {
  const candidates = [...matchesOf('container', container), ...matchesOf('pod', pod)];
  if (candidates.length === 0) throw new NotFoundError(`no pod or container ID starts with "${prefix}"`);
  if (candidates.length > 1) throw new AmbiguousPrefixError(prefix, candidates);
  return container.status === 200 ? container.body : pod.body;
}

function matchesOf(kind: 'container' | 'pod', answer: AdminAnswer): string[] {
  switch (answer.status) {
    case 200:
      return [`${kind} ${(answer.body as { id: string }).id}`];
    case 404:
      return [];
    case 409:
      return (answer.body as AmbiguousIdError).candidates.map((id) => `${kind} ${id}`);
    default:
      throw new Error(`the daemon could not look up ${kind}s: ${answer.status} ${errorOf(answer.body)}`);
  }
}
