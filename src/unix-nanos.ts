/** CRI timestamps (created, started, finished, reported) are int64 nanoseconds since the epoch, past what a JS number holds exactly. */
export function unixNanos(date: Date = new Date()): string {
  return (BigInt(date.getTime()) * 1_000_000n).toString();
}
