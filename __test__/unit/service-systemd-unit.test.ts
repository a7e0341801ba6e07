import test from 'ava';
import { isCrionUnit, renderUnit, UNIT_MARKER } from '../../src/service/systemd-unit.js';

const INPUT = {
  command: ['/usr/local/bin/node', '/usr/local/lib/node_modules/crion/bin/crion.js'],
  configFile: '/etc/crion/crion.conf',
  configDir: '/etc/crion/crion.conf.d',
};

/** Each section's directives, key → values in order, as systemd reads them: comments and blank lines skipped. */
function directives(text: string): Record<string, Record<string, string[]>> {
  const sections: Record<string, Record<string, string[]>> = {};
  let current: Record<string, string[]> | undefined;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      current = sections[header[1]!] = {};
      continue;
    }
    const equals = line.indexOf('=');
    if (current === undefined || equals < 1) throw new Error(`not a directive in a section: ${line}`);
    (current[line.slice(0, equals)] ??= []).push(line.slice(equals + 1));
  }
  return sections;
}

test('the unit runs the daemon by absolute paths with the config file and drop-in directory it was given', (t) => {
  const { Service } = directives(renderUnit(INPUT));
  t.deepEqual(Service?.ExecStart, [
    '/usr/local/bin/node /usr/local/lib/node_modules/crion/bin/crion.js daemon --config /etc/crion/crion.conf --config-dir /etc/crion/crion.conf.d',
  ]);
  t.deepEqual(Service?.Type, ['exec']);
});

test('stop and restart signal the main process only, so monitors and containers outlive the daemon', (t) => {
  const { Service } = directives(renderUnit(INPUT));
  t.deepEqual(Service?.KillMode, ['process']);
  t.deepEqual(Service?.Delegate, ['yes']);
  t.deepEqual(Service?.Restart, ['always']);
  t.deepEqual(Service?.RestartSec, ['5']);
});

test('reload sends SIGHUP to the daemon, which re-reads its config files', (t) => {
  t.deepEqual(directives(renderUnit(INPUT)).Service?.ExecReload, ['/bin/kill -s HUP $MAINPID']);
});

test("limits and the OOM score are containerd's", (t) => {
  const { Service } = directives(renderUnit(INPUT));
  t.like(Service, {
    LimitNOFILE: ['1048576'],
    LimitNPROC: ['infinity'],
    LimitCORE: ['infinity'],
    TasksMax: ['infinity'],
    OOMScoreAdjust: ['-999'],
  });
});

test('the daemon starts once the network is online and local filesystems are mounted, before the kubelet, at boot', (t) => {
  const { Unit, Install } = directives(renderUnit(INPUT));
  t.deepEqual(Unit?.Wants, ['network-online.target']);
  t.deepEqual(Unit?.After, ['network-online.target local-fs.target']);
  t.deepEqual(Unit?.Before, ['kubelet.service']);
  t.deepEqual(Install?.WantedBy, ['multi-user.target']);
});

test('it holds exactly these directives', (t) => {
  const all = directives(renderUnit(INPUT));
  t.deepEqual(Object.fromEntries(Object.entries(all).map(([section, keys]) => [section, Object.keys(keys).sort()])), {
    Unit: ['After', 'Before', 'Description', 'Wants'],
    Service: [
      'Delegate',
      'ExecReload',
      'ExecStart',
      'KillMode',
      'LimitCORE',
      'LimitNOFILE',
      'LimitNPROC',
      'OOMScoreAdjust',
      'Restart',
      'RestartSec',
      'TasksMax',
      'Type',
    ],
    Install: ['WantedBy'],
  });
});

test('ExecStart quotes words with spaces and escapes what systemd would expand', (t) => {
  const { Service } = directives(
    renderUnit({ ...INPUT, command: ['/opt/my node/bin/node', '/srv/crion/bin/crion.js'], configFile: '/etc/100%/a$b"c\\d.conf' }),
  );
  t.deepEqual(Service?.ExecStart, [
    '"/opt/my node/bin/node" /srv/crion/bin/crion.js daemon --config "/etc/100%%/a$$b\\"c\\\\d.conf" --config-dir /etc/crion/crion.conf.d',
  ]);
  t.throws(() => renderUnit({ ...INPUT, configFile: '/etc/a\nb.conf' }), { message: /newline/ });
});

test('the marker line tells crion its own unit from another', (t) => {
  const unit = renderUnit(INPUT);
  t.true(unit.startsWith(`${UNIT_MARKER}\n`));
  t.true(isCrionUnit(unit));
  t.false(isCrionUnit('[Unit]\nDescription=CRI-O\n'));
  t.false(isCrionUnit(`[Service]\nExecStart=/bin/true ${UNIT_MARKER}\n`), 'only a line of its own counts');
});
