import type { LayerProgress, PullProgress } from '../image/pull-progress.js';

/**
 * How `crion pull` shows a pull: live bars redrawn in place on a terminal,
 * one line per layer stage change otherwise (CI logs, pipes).
 */
export interface PullView {
  update(pull: PullProgress): void;
}

export function createPullView(output: NodeJS.WriteStream): PullView {
  return output.isTTY ? new TerminalPullView(output) : new PlainPullView(output);
}

const BAR_WIDTH = 24;

export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

function shortDigest(digest: string): string {
  return digest.replace('sha256:', '').slice(0, 12);
}

/** Bytes per second per layer, from the last two samples a little apart, so the figure does not jitter. */
class SpeedMeter {
  private readonly samples = new Map<string, { at: number; bytes: number; speed: number }>();

  speed(layer: LayerProgress, now: number): number {
    const previous = this.samples.get(layer.digest);
    if (!previous) {
      this.samples.set(layer.digest, { at: now, bytes: layer.downloaded, speed: 0 });
      return 0;
    }
    const elapsed = now - previous.at;
    if (elapsed < 500) return previous.speed;
    const speed = ((layer.downloaded - previous.bytes) * 1000) / elapsed;
    this.samples.set(layer.digest, { at: now, bytes: layer.downloaded, speed });
    return speed;
  }
}

class TerminalPullView implements PullView {
  private drawnLines = 0;
  private readonly meter = new SpeedMeter();

  constructor(private readonly output: NodeJS.WriteStream) {}

  update(pull: PullProgress): void {
    const now = Date.now();
    const lines = [`${pull.image}: ${pull.stage}`, ...pull.layers.map((layer) => this.layerLine(layer, now))];
    // Move up over the previous frame and redraw it; \x1b[2K clears each line first.
    const up = this.drawnLines > 0 ? `\x1b[${this.drawnLines}A` : '';
    this.output.write(`${up}${lines.map((line) => `\x1b[2K${line}\n`).join('')}`);
    this.drawnLines = lines.length;
  }

  private layerLine(layer: LayerProgress, now: number): string {
    const fraction = layer.size > 0 ? Math.min(layer.downloaded / layer.size, 1) : 1;
    const done = layer.stage === 'done' || layer.stage === 'present' || layer.stage === 'unpacking';
    const filled = Math.round((done ? 1 : fraction) * BAR_WIDTH);
    const bar = `[${'='.repeat(filled)}${' '.repeat(BAR_WIDTH - filled)}]`;
    const amount = `${formatBytes(done ? layer.size : layer.downloaded)}/${formatBytes(layer.size)}`;
    const speed = layer.stage === 'downloading' ? `${formatBytes(this.meter.speed(layer, now))}/s` : '';
    return `  ${shortDigest(layer.digest)}  ${bar}  ${amount.padEnd(19)} ${speed.padEnd(11)} ${layer.stage}`;
  }
}

class PlainPullView implements PullView {
  private readonly lastStage = new Map<string, string>();
  private lastPullStage: string | null = null;

  constructor(private readonly output: NodeJS.WriteStream) {}

  update(pull: PullProgress): void {
    if (pull.stage !== this.lastPullStage) {
      this.lastPullStage = pull.stage;
      this.output.write(`${pull.image}: ${pull.stage}\n`);
    }
    for (const layer of pull.layers) {
      if (this.lastStage.get(layer.digest) === layer.stage) continue;
      this.lastStage.set(layer.digest, layer.stage);
      this.output.write(`  ${shortDigest(layer.digest)} ${layer.stage} (${formatBytes(layer.size)})\n`);
    }
  }
}
