import { configDocument } from './config-document.js';
import type { CrionConfig } from './crion-config.js';
import { tomlLiteral } from './toml.js';

const COMMENT_WIDTH = 80;

function comment(text: string): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/)) {
    if (line.length > 1 && line.length + 1 + word.length > COMMENT_WIDTH) {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  return [...lines, line];
}

/** The config as TOML with every key commented; `crion daemon --config` reads it back unchanged. */
export function renderConfig(config: CrionConfig): string {
  const lines: string[] = [];
  for (const item of configDocument(config)) {
    if (item.kind === 'table') {
      if (lines.length > 0) lines.push('');
      if (item.doc !== null) lines.push(...comment(item.doc));
      if (item.key !== '') lines.push(`[${item.key}]`);
      continue;
    }
    const applied = item.field.reloadable ? ' Applied on SIGHUP.' : '';
    lines.push(
      '',
      ...comment(item.field.doc),
      ...comment(`Accepts ${item.field.type.description}.${applied}`),
      `${item.name} = ${tomlLiteral(item.value)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
