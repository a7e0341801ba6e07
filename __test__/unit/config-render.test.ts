import { writeFile } from 'node:fs/promises';
import test from 'ava';
import { Command } from 'commander';
import { addConfigOptions, defaultConfig, loadConfig, overridesFrom, renderConfig, type CrionConfig } from '../../src/config/index.js';
import { writeConfigFiles } from '../fixtures/config/temp-config.js';

async function reload(t: Parameters<typeof writeConfigFiles>[0], config: CrionConfig): Promise<CrionConfig> {
  const sources = await writeConfigFiles(t, null);
  await writeFile(sources.configFile, renderConfig(config));
  return (await loadConfig({ ...sources, fileExplicit: true }, [])).config;
}

test('the rendered defaults read back as the defaults', async (t) => {
  t.deepEqual(await reload(t, defaultConfig()), defaultConfig());
});

test('a config changed everywhere reads back unchanged', async (t) => {
  const sources = await writeConfigFiles(
    t,
    [
      'root = "/srv/crion"',
      '[log]',
      'level = "trace"',
      'format = "text"',
      '[runtime]',
      'default_handler = "kata.v2"',
      'restrict_oom_score_adj = true',
      '[runtime.handlers."kata.v2"]',
      'path = "/usr/bin/kata-runtime"',
      'root = "/run/kata"',
      '[image]',
      'auth_file = "/var/lib/kubelet/config.json"',
      'pinned_images = ["registry.k8s.io/pause:3.10", "quay.io/mine/*"]',
      'max_concurrent_downloads = 64',
      '[network]',
      'cni_plugin_dirs = []',
      'default_network = "podman \\"bridge\\""',
      'init_default_network = true',
      '[streaming]',
      'address = "::"',
      'port = 10010',
    ].join('\n'),
  );
  const flags = addConfigOptions(new Command()).parse(['--runtime-handler', 'runsc:root=/run/gvisor'], { from: 'user' });
  const { config } = await loadConfig(sources, overridesFrom(flags.opts()));
  t.notDeepEqual(config, defaultConfig());
  const rendered = renderConfig(config);
  t.true(rendered.includes('[runtime.handlers."kata.v2"]'));
  t.deepEqual(await reload(t, config), config);
});

test('every key is preceded by a comment describing it', (t) => {
  const lines = renderConfig(defaultConfig()).split('\n');
  const keyLines = lines.flatMap((line, index) => (/^[a-z_]+ = /.test(line) ? [index] : []));
  t.true(keyLines.length > 20);
  for (const index of keyLines) t.regex(lines[index - 1] ?? '', /^# /, `no comment above: ${lines[index]}`);
  t.regex(renderConfig(defaultConfig()), /# Least severe level that is written\.\n# Accepts one of "trace".*Applied on\n# SIGHUP\.\nlevel = "info"/);
});
