/** The systemd unit that runs the daemon: its text, and how crion knows a unit file is its own. */

export const UNIT_NAME = 'crion.service';

/** Marks a unit file as written by crion, so uninstall-service removes only its own. */
export const UNIT_MARKER = '# Written by `crion install-service`; `crion uninstall-service` removes it.';

export interface UnitInput {
  /** The command line up to the daemon's arguments: absolute node, then crion's bin script. */
  readonly command: readonly string[];
  readonly configFile: string;
  readonly configDir: string;
}

export function isCrionUnit(text: string): boolean {
  return text.split('\n').includes(UNIT_MARKER);
}

/**
 * One word of ExecStart=, as systemd.service(5) splits the line: quoted
 * when it holds anything but plain path characters, and with `%` and `$`
 * doubled, which systemd would otherwise expand as specifiers and
 * environment variables.
 */
function execWord(word: string): string {
  if (/[\n\r]/.test(word)) throw new Error(`a newline cannot be passed to systemd's ExecStart: ${JSON.stringify(word)}`);
  const literal = word.replaceAll('%', '%%').replaceAll('$', '$$$$');
  if (/^[\w/.,:@+=-]+$/.test(literal)) return literal;
  return `"${literal.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/**
 * The unit, after containerd's and CRI-O's. The comments in it are for the
 * operator who reads it with `systemctl cat crion`.
 */
export function renderUnit(input: UnitInput): string {
  const execStart = [...input.command, 'daemon', '--config', input.configFile, '--config-dir', input.configDir].map(execWord).join(' ');
  return `${UNIT_MARKER}
# Local changes belong in a drop-in (systemctl edit crion), which a new install-service leaves alone.
[Unit]
Description=crion Kubernetes container runtime (CRI)
Wants=network-online.target
After=network-online.target local-fs.target
Before=kubelet.service

[Service]
# crion does not speak sd_notify; exec at least fails the start when the binary cannot run.
Type=exec
ExecStart=${execStart}
ExecReload=/bin/kill -s HUP $MAINPID
# Stop and restart signal the daemon alone. Each container's crion-monitor stays in this
# unit's cgroup and must outlive the daemon, or its container loses its stdio, its log and
# the record of its exit; the default KillMode=control-group would kill them all.
KillMode=process
# The cgroups below this unit are crion's and runc's to arrange, not systemd's.
Delegate=yes
Restart=always
RestartSec=5
# The daemon holds a descriptor per connection, pidfd and layer download.
LimitNOFILE=1048576
# Rlimits pass through crion-monitor and runc to the containers, where RLIMIT_NPROC would
# count every process of the user across all of them; cgroups limit containers instead.
LimitNPROC=infinity
LimitCORE=infinity
# Every running container's monitor counts against this unit's task limit.
TasksMax=infinity
# The OOM killer takes containers before the runtime and the monitors that manage them.
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
`;
}
