import { EventEmitter } from 'node:events';

/**
 * Live state of the pulls in progress. CRI has no progress API, so the
 * daemon publishes this board on a side channel of its own (see
 * src/admin/pull-watch.ts, on the admin socket) for `crion pull` and operators to watch.
 */

export type LayerStage = 'waiting' | 'downloading' | 'unpacking' | 'done' | 'present' | 'failed';

export interface LayerProgress {
  readonly digest: string;
  readonly size: number;
  readonly downloaded: number;
  readonly stage: LayerStage;
}

export type PullStage = 'resolving' | 'pulling' | 'done' | 'failed';

export interface PullProgress {
  readonly id: number;
  /** The reference as the client asked for it. */
  readonly image: string;
  readonly startedAt: string;
  readonly stage: PullStage;
  readonly layers: readonly LayerProgress[];
  /** The image ID once the pull is done. */
  readonly imageId: string | null;
  readonly error: string | null;
}

/** What a pull reports as it goes; the puller owns one per pull. */
export interface PullReporter {
  layers(layers: ReadonlyArray<Pick<LayerProgress, 'digest' | 'size' | 'stage'>>): void;
  layer(digest: string, update: Partial<Pick<LayerProgress, 'downloaded' | 'stage'>>): void;
  finished(imageId: string): void;
  failed(error: string): void;
}

/** How long a finished pull stays on the board, so a watcher that connects late still sees the outcome. */
const FINISHED_RETENTION_MS = 60_000;

export class PullProgressBoard {
  private readonly pulls = new Map<number, PullProgress>();
  private readonly events = new EventEmitter();
  private nextId = 1;

  constructor() {
    // Every `crion pull` watching at once is a listener; there is no leak to warn about.
    this.events.setMaxListeners(0);
  }

  snapshot(): PullProgress[] {
    return [...this.pulls.values()];
  }

  /** Calls `listener` with every change until the returned function is called. */
  watch(listener: (pull: PullProgress) => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  start(image: string): PullReporter {
    const id = this.nextId++;
    const update = (change: Partial<PullProgress>) => {
      const current = this.pulls.get(id);
      if (!current) return;
      const next = { ...current, ...change };
      this.pulls.set(id, next);
      this.events.emit('change', next);
    };
    const finish = (change: Partial<PullProgress>) => {
      update(change);
      setTimeout(() => this.pulls.delete(id), FINISHED_RETENTION_MS).unref();
    };
    const started: PullProgress = {
      id,
      image,
      startedAt: new Date().toISOString(),
      stage: 'resolving',
      layers: [],
      imageId: null,
      error: null,
    };
    this.pulls.set(id, started);
    // Watchers learn of the pull before anything happens to it, so they can follow it from its first line.
    this.events.emit('change', started);
    return {
      layers: (layers) => update({ stage: 'pulling', layers: layers.map((layer) => ({ ...layer, downloaded: 0 })) }),
      layer: (digest, change) =>
        update({
          layers: (this.pulls.get(id)?.layers ?? []).map((layer) => (layer.digest === digest ? { ...layer, ...change } : layer)),
        }),
      finished: (imageId) => finish({ stage: 'done', imageId }),
      failed: (error) => finish({ stage: 'failed', error }),
    };
  }
}
