/**
 * The V8 flags node runs the daemon with, wherever crion starts it (the
 * systemd unit, the tests' and benchmarks' daemons). V8 reads them only
 * from node's command line or NODE_OPTIONS, not once the process runs.
 *
 * --max-semi-space-size=2: by default the young generation grows to two
 * 16 MiB semi-spaces, which the daemon's start-up fills and V8 never gives
 * back, while the daemon keeps about 15 MiB of live heap. With 2 MiB the
 * idle daemon's RSS went from 102-106 to 86-89 MiB, and with 30 pods after
 * 3,000 polled calls from 124-125 to 102-104 MiB, with no measurable change
 * in the calls' latency (alternating runs at load 7-10).
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
