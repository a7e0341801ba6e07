import { constants } from 'node:os';

/** Linux's real-time signals as libc numbers them (the kernel's first two are libc's own), as runc reads RTMIN+n. */
const RTMIN = 34;
const RTMAX = 64;

/**
 * The number of a stop signal as crion records it: a name without SIG (TERM, from CRI's enum RTMINPLUS3, from an
 * image's StopSignal RTMIN+3 or RTMAX-1) or a number. null for anything else, which the caller leaves to the OCI
 * runtime to refuse.
 */
export function signalNumber(signal: string): number | null {
  const name = signal.replace(/^SIG/, '');
  if (/^\d+$/.test(name)) return inRange(Number(name));
  const realtime = /^RT(MIN|MAX)(?:(?:\+|PLUS)(\d+)|(?:-|MINUS)(\d+))?$/.exec(name);
  if (realtime !== null) {
    const [, base, plus, minus] = realtime;
    return inRange((base === 'MIN' ? RTMIN : RTMAX) + Number(plus ?? 0) - Number(minus ?? 0));
  }
  return (constants.signals as Record<string, number | undefined>)[`SIG${name}`] ?? null;
}

function inRange(value: number): number | null {
  return value >= 1 && value <= RTMAX ? value : null;
}
