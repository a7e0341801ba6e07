import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Logger } from '../log/logger.js';
import { loadNetworkConfigs, type LoadedNetworkConfigs } from './cni-config.js';

/**
 * The CNI config dir as last read, kept until the directory changes. The
 * kubelet asks for NetworkReady every few seconds and a CNI add-on drops
 * its config in whenever it starts, so the dir is watched rather than read
 * on every call. The dir's mtime is also compared on each call, because a
 * watch event arrives a moment after the change: a file created, removed or
 * renamed into place is seen by the very next call, an edit in place once
 * its event arrives. Until the dir exists (or when the watch fails) it is
 * read each time, which costs one ENOENT.
 */
export class NetworkConfigWatch {
  private watched: { dir: string; watcher: FSWatcher } | null = null;
  private cached: { dir: string; mtimeNs: bigint; configs: LoadedNetworkConfigs } | null = null;
  /** Bumped by every change event, so a read that raced a change is not cached as current. */
  private generation = 0;

  constructor(
    /** A getter: a SIGHUP may move the directory. */
    private readonly dir: () => string,
    private readonly log: Logger,
  ) {}

  async configs(): Promise<LoadedNetworkConfigs> {
    const dir = this.dir();
    const mtimeNs = await dirMtime(dir);
    if (this.cached?.dir === dir && this.cached.mtimeNs === mtimeNs && this.watched?.dir === dir) return this.cached.configs;
    this.startWatching(dir);
    const generation = this.generation;
    const configs = await loadNetworkConfigs(dir);
    if (mtimeNs !== null && this.watched?.dir === dir && generation === this.generation) this.cached = { dir, mtimeNs, configs };
    return configs;
  }

  close(): void {
    this.watched?.watcher.close();
    this.watched = null;
    this.cached = null;
  }

  private startWatching(dir: string): void {
    if (this.watched?.dir === dir) return;
    this.close();
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: false }, () => this.changed(dir));
    } catch {
      // Mostly ENOENT: a node whose CNI add-on has not started yet. Read per call until the dir appears.
      return;
    }
    watcher.on('error', (error) => {
      this.log.warn({ err: error, dir }, 'stopped watching the CNI config dir; reading it on each use');
      if (this.watched?.watcher === watcher) this.close();
    });
    this.watched = { dir, watcher };
  }

  /** Also drops the watch: a removed and recreated dir is a new inode, which the old watch would never report. */
  private changed(dir: string): void {
    this.generation++;
    if (this.watched?.dir !== dir) return;
    const hadCache = this.cached !== null;
    this.close();
    if (hadCache) this.log.info({ dir }, 'CNI config dir changed');
  }
}

async function dirMtime(dir: string): Promise<bigint | null> {
  try {
    return (await stat(dir, { bigint: true })).mtimeNs;
  } catch {
    return null;
  }
}
