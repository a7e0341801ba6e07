import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import xterm from '@xterm/headless';
import { repoRoot } from './repo.js';

const PTY_SESSION = path.join(repoRoot, '__test__', 'fixtures', 'pty-session.py');

/**
 * A command on a pseudo-terminal (fixtures/pty-session.py) whose output is
 * played into a headless xterm, so a test reads the screen a person would
 * see, types keys and resizes the window while the command runs.
 */
export class TerminalSession {
  private readonly terminal: InstanceType<typeof xterm.Terminal>;
  private readonly child: ChildProcess;
  private readonly control: Writable;
  /** Output written to the terminal so far; xterm parses asynchronously, so reads wait for it. */
  private parsed: Promise<void> = Promise.resolve();
  private raw = '';
  readonly exited: Promise<number | null>;

  constructor(rows: number, columns: number, command: readonly string[], env: NodeJS.ProcessEnv = process.env) {
    this.terminal = new xterm.Terminal({ rows, cols: columns, allowProposedApi: true });
    this.child = spawn('python3', [PTY_SESSION, String(rows), String(columns), '--', ...command], {
      env: { ...env, TERM: 'xterm-256color' },
      stdio: ['pipe', 'pipe', 'inherit', 'pipe'],
    });
    this.control = this.child.stdio[3] as Writable;
    this.child.stdout!.on('data', (chunk: Buffer) => {
      this.raw += chunk.toString('latin1');
      this.parsed = this.parsed.then(() => new Promise<void>((resolve) => this.terminal.write(chunk, resolve)));
    });
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }

  /** The screen as text, one string per row, trailing spaces trimmed. */
  async screen(): Promise<string[]> {
    await this.parsed;
    const buffer = this.terminal.buffer.active;
    return Array.from({ length: this.terminal.rows }, (_, row) => buffer.getLine(buffer.viewportY + row)?.translateToString(true) ?? '');
  }

  /** Polls the screen until `done` holds; fails with what the screen showed last. */
  async waitFor(what: string, done: (lines: string[]) => boolean, timeoutMs = 30_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = await this.screen();
      if (done(lines)) return lines;
      if (Date.now() > deadline) throw new Error(`the screen never showed ${what} within ${timeoutMs} ms; it shows:\n${lines.join('\n')}`);
      await sleep(100);
    }
  }

  /** Every byte the command wrote, escape sequences and all. */
  get output(): string {
    return this.raw;
  }

  type(keys: string): void {
    this.child.stdin!.write(keys);
  }

  resize(rows: number, columns: number): void {
    this.terminal.resize(columns, rows);
    this.control.write(`${rows} ${columns}\n`);
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}
