import type { NetworkReadiness } from '../network/pod-networks.js';
import type { HandlerFeatures } from './handler-features.js';
import { resolveOciHandlers, type HandlerSetting, type OciHandler } from './oci-handlers.js';

export interface RuntimeCondition {
  readonly type: 'RuntimeReady' | 'NetworkReady';
  readonly status: boolean;
  /** CamelCase machine-readable reason, empty when the condition holds. */
  readonly reason: string;
  readonly message: string;
}

/** A handler the kubelet may select with RuntimeClass; the default one has the empty name, as CRI specifies. */
export interface AvailableHandler {
  readonly name: string;
  readonly recursiveReadOnlyMounts: boolean;
  readonly userNamespaces: boolean;
}

export interface RuntimeStatusReport {
  readonly conditions: readonly RuntimeCondition[];
  readonly handlers: readonly AvailableHandler[];
  /** Only for verbose requests: values are JSON, as crictl expects. */
  readonly info: Readonly<Record<string, string>> | null;
}

export interface RuntimeStatusSource {
  readonly defaultHandler: string;
  readonly handlers: Readonly<Record<string, HandlerSetting>>;
  readonly networkReadiness: () => Promise<NetworkReadiness>;
  /** A handler's features as probed at start (HandlerFeatureTable.of). */
  readonly features: (handler: string) => Promise<HandlerFeatures>;
  /** Everything an operator needs to see in `crictl info`, already in plain JSON-able form. */
  readonly verboseInfo: () => Readonly<Record<string, unknown>>;
}

/**
 * Answers "can this node run pods?" from what is actually on the host, so
 * the kubelet marks the node NotReady instead of scheduling pods that would
 * fail to start.
 */
export async function reportRuntimeStatus(source: RuntimeStatusSource, verbose: boolean): Promise<RuntimeStatusReport> {
  const handlers = await resolveOciHandlers(source.handlers);
  const defaultHandler = handlers.find((handler) => handler.name === source.defaultHandler);
  const installed = handlers.filter((handler) => handler.binary !== null);
  // The default handler is offered twice: under '' (what a pod without a RuntimeClass runs with) and by its name.
  const offered = [
    ...(defaultHandler?.binary ? [{ name: '', handler: defaultHandler.name }] : []),
    ...installed.map(({ name }) => ({ name, handler: name })),
  ];

  return {
    conditions: [runtimeReady(source.defaultHandler, defaultHandler), networkReady(await source.networkReadiness())],
    handlers: await Promise.all(offered.map(async ({ name, handler }) => available(name, await source.features(handler)))),
    info: verbose
      ? Object.fromEntries(
          // crictl shows a value as a JSON tree only when it is an object, so handlers go in keyed by name; not as
          // "runtimeHandlers", which crictl info fills from the response's own handler list and an info key would replace.
          Object.entries({ ...source.verboseInfo(), ociRuntimes: await handlersByName(handlers, source.features) }).map(([key, value]) => [
            key,
            JSON.stringify(value),
          ]),
        )
      : null,
  };
}

/** How each handler resolved, with its features and, for one it lacks, why. */
async function handlersByName(
  handlers: readonly OciHandler[],
  features: RuntimeStatusSource['features'],
): Promise<Record<string, Omit<OciHandler, 'name'> & { features: HandlerFeatures }>> {
  return Object.fromEntries(
    await Promise.all(handlers.map(async ({ name, ...handler }) => [name, { ...handler, features: await features(name) }] as const)),
  );
}

function runtimeReady(name: string, handler: OciHandler | undefined): RuntimeCondition {
  if (handler?.binary) {
    return { type: 'RuntimeReady', status: true, reason: '', message: '' };
  }
  return {
    type: 'RuntimeReady',
    status: false,
    reason: 'OCIRuntimeNotFound',
    message: `the default runtime handler "${name}" needs "${handler?.configuredPath ?? name}", which is not an executable on this host`,
  };
}

function networkReady(readiness: NetworkReadiness): RuntimeCondition {
  if (readiness.ready) return { type: 'NetworkReady', status: true, reason: '', message: '' };
  return { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: readiness.message };
}

/**
 * The kubelet lets a pod ask for `recursiveReadOnly: Enabled` only on a handler that reports it (the default one
 * under '' as well, as containerd and CRI-O do). User namespaces are not implemented: reporting them would make
 * the kubelet rely on them.
 */
function available(name: string, features: HandlerFeatures): AvailableHandler {
  return { name, recursiveReadOnlyMounts: features.recursiveReadOnlyMounts.available, userNamespaces: false };
}
