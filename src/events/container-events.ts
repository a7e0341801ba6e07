import type { ContainerRecord } from '../container/container-record.js';
import { ResourceExhaustedError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { SandboxRecord } from '../sandbox/sandbox-manager.js';

/**
 * The container lifecycle as a stream of events (CRI's GetContainerEvents, the kubelet's evented PLEG). The
 * container and pod managers tell the publisher of each transition right after they have recorded it; the
 * publisher takes a snapshot of the pod then (its record and its containers' records, which are immutable, so a
 * snapshot is a few references) and queues it for every subscriber. Publishing is synchronous and never waits for
 * a subscriber: one that lets its bounded queue fill is dropped with SlowSubscriberError and counted, and has to
 * subscribe again (the kubelet then relists, as it does after any stream error).
 *
 * A pod's own lifecycle is published under the pod sandbox's ID, as containerd does: the kubelet drops its cached
 * status of a pod when a DELETED event names the sandbox itself.
 */

/** CRI's ContainerEventType names. */
export type ContainerEventType = 'CONTAINER_CREATED_EVENT' | 'CONTAINER_STARTED_EVENT' | 'CONTAINER_STOPPED_EVENT' | 'CONTAINER_DELETED_EVENT';

export interface ContainerEvent {
  readonly type: ContainerEventType;
  /** An app container's ID, or the pod sandbox's own for the pod's lifecycle. */
  readonly containerId: string;
  /** Nanoseconds since the epoch, as a decimal string; strictly increasing across the publisher's events. */
  readonly createdAt: string;
  /** The pod as it was right after the transition. */
  readonly sandbox: SandboxRecord;
  /** The pod's app containers right after the transition (a deleted one no longer among them). */
  readonly containers: readonly ContainerRecord[];
}

/** What the lifecycle code sees of the publisher. */
export interface LifecycleEvents {
  /**
   * Called right after a transition is recorded. `removedSandbox` and `removedContainer` are the last records of
   * what a removal took from the store.
   */
  publish(type: ContainerEventType, containerId: string, sandboxId: string, removedSandbox?: SandboxRecord, removedContainer?: ContainerRecord): void;
}

/** Lifecycle code built without a publisher (unit tests, tools) tells nobody. */
export const NO_LIFECYCLE_EVENTS: LifecycleEvents = { publish: () => undefined };

/** Every transition told to each listener in turn: the event stream, the operator's log. */
export function lifecycleFanOut(...listeners: readonly LifecycleEvents[]): LifecycleEvents {
  return { publish: (...transition) => listeners.forEach((listener) => listener.publish(...transition)) };
}

/** A subscriber whose queue filled up: it reads slower than the node changes. */
export class SlowSubscriberError extends ResourceExhaustedError {}

export interface ContainerEventsDeps {
  readonly sandbox: (sandboxId: string) => SandboxRecord | undefined;
  /** The pod's app containers, infra containers left out. */
  readonly containersOf: (sandboxId: string) => readonly ContainerRecord[];
  /** Events a subscriber may have waiting before it is dropped. */
  readonly queueSize: number;
  readonly log: Logger;
  /** The clock, in nanoseconds since the epoch; tests pass their own. */
  readonly now?: () => bigint;
}

export interface ContainerEventsCounters {
  readonly subscribers: number;
  /** Subscribers dropped because their queue filled, since the daemon started. */
  readonly droppedSubscribers: number;
  /** Transitions the lifecycle code reported, whether or not anyone was subscribed. */
  readonly published: number;
}

export class ContainerEvents implements LifecycleEvents {
  private readonly subscriptions = new Set<Subscription>();
  private lastCreatedAt = 0n;
  private dropped = 0;
  private published = 0;

  constructor(private readonly deps: ContainerEventsDeps) {
    if (!Number.isInteger(deps.queueSize) || deps.queueSize < 1) throw new RangeError(`queue size ${deps.queueSize} is not a positive integer`);
  }

  publish(type: ContainerEventType, containerId: string, sandboxId: string, removedSandbox?: SandboxRecord): void {
    this.published += 1;
    if (this.subscriptions.size === 0) return;
    const sandbox = removedSandbox ?? this.deps.sandbox(sandboxId);
    if (sandbox === undefined) {
      // The pod went between the transition and now; its own DELETED event says so.
      this.deps.log.debug({ containerId, podSandboxId: sandboxId, type }, 'container event for a pod that is gone, not published');
      return;
    }
    const event: ContainerEvent = { type, containerId, createdAt: this.nextCreatedAt(), sandbox, containers: this.deps.containersOf(sandboxId) };
    for (const subscription of this.subscriptions) {
      if (!subscription.offer(event, this.deps.queueSize)) this.drop(subscription);
    }
  }

  /** Events from now on, in the order they were published. */
  subscribe(): Subscription {
    const subscription = new Subscription(() => this.subscriptions.delete(subscription));
    this.subscriptions.add(subscription);
    return subscription;
  }

  counters(): ContainerEventsCounters {
    return { subscribers: this.subscriptions.size, droppedSubscribers: this.dropped, published: this.published };
  }

  /** At shutdown: every subscription ends, so its stream can end with OK instead of being cut. */
  close(): void {
    for (const subscription of this.subscriptions) subscription.close();
  }

  private drop(subscription: Subscription): void {
    this.dropped += 1;
    subscription.fail(
      new SlowSubscriberError(
        `the container event stream fell ${this.deps.queueSize} events behind and was closed; subscribe again and list what changed meanwhile`,
      ),
    );
    this.deps.log.warn(
      { queueSize: this.deps.queueSize, droppedSubscribers: this.dropped },
      'a container event subscriber fell behind and was dropped',
    );
  }

  /** Strictly increasing: the kubelet keeps a pod's status from the newest event, and two may come in one millisecond. */
  private nextCreatedAt(): string {
    const now = this.deps.now?.() ?? BigInt(Date.now()) * 1_000_000n;
    this.lastCreatedAt = now > this.lastCreatedAt ? now : this.lastCreatedAt + 1n;
    return this.lastCreatedAt.toString();
  }
}

/** One subscriber's queue. */
export class Subscription {
  private readonly queue: ContainerEvent[] = [];
  private wake: (() => void) | null = null;
  /** Null while open; the error a failed subscription ends with, or 'closed'. */
  private end: Error | 'closed' | null = null;
  private readonly endedPromise: Promise<void>;
  private signalEnded!: () => void;

  constructor(private readonly unsubscribe: () => void) {
    this.endedPromise = new Promise((resolve) => (this.signalEnded = resolve));
  }

  /** Settles when the subscription is closed or dropped: a reader waiting on something else races this. */
  get ended(): Promise<void> {
    return this.endedPromise;
  }

  /** The next event; null once closed. Rejects with SlowSubscriberError once the subscriber was dropped. */
  async next(): Promise<ContainerEvent | null> {
    for (;;) {
      if (this.end instanceof Error) throw this.end;
      const event = this.queue.shift();
      if (event !== undefined) return event;
      if (this.end === 'closed') return null;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Unsubscribes; what is still queued is dropped. Idempotent. */
  close(): void {
    this.finish('closed');
  }

  /** False when the queue is full: the caller drops the subscriber. */
  offer(event: ContainerEvent, limit: number): boolean {
    if (this.end !== null) return true;
    if (this.queue.length >= limit) return false;
    this.queue.push(event);
    this.notify();
    return true;
  }

  fail(error: Error): void {
    this.finish(error);
  }

  private finish(end: Error | 'closed'): void {
    if (this.end !== null) return;
    this.end = end;
    this.queue.length = 0;
    this.unsubscribe();
    this.signalEnded();
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
