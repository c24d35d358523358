/**
 * How Chord's install keeps onnxruntime-node from downloading CUDA libraries, without an npm
 * warning on every command, and the documented way to get them anyway (docs/engine.md).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { allowScripts?: Record<string, boolean>; scripts: Record<string, string> };
const tmp = mkdtempSync(join(tmpdir(), 'chord-npm-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('installing onnxruntime-node', () => {
  it('npm ci does not run its install script (the CUDA download)', () => {
    expect(pkg.allowScripts?.['onnxruntime-node']).toBe(false);
  });

  it('`npx chord --help` prints no npm warning', () => {
    // an empty user config, so that only the project's own npm configuration is under test; npm's
    // own "new version of npm available" notice (which comes and goes with npm releases, whatever
    // the project) is switched off
    const userconfig = join(tmp, 'npmrc');
    writeFileSync(userconfig, '');
    const r = spawnSync('npx', ['--no-install', 'chord', '--help'], {
      encoding: 'utf8',
      env: { ...process.env, NPM_CONFIG_USERCONFIG: userconfig, npm_config_userconfig: userconfig, npm_config_update_notifier: 'false' },
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Usage: chord /);
    expect(r.stderr).toBe('');
  });

  it('`npm run install-cuda` runs the install script forcing the files it does not bundle: CUDA 12 on Linux x64', () => {
    const command = pkg.scripts['install-cuda'];
    const [node, script, ...args] = command.split(' ');
    expect(node).toBe('node');
    expect(existsSync(script)).toBe(true);
    // the script's own flag parser, given the script's arguments, forces the install (true) ...
    // (not '=cuda12': this onnxruntime-node's parser returns undefined for any named value, and
    // the script then treats a run from the project's own folder as a local install and exits)
    const utils = createRequire(import.meta.url).resolve('onnxruntime-node/script/install-utils.js');
    const flag = execFileSync(process.execPath, ['-e', `console.log(require(${JSON.stringify(utils)}).parseInstallFlag())`, '--', ...args], {
      encoding: 'utf8',
      env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: '', ONNXRUNTIME_NODE_INSTALL_CUDA: '', npm_config_onnxruntime_node_install: '' },
    }).trim();
    expect(flag).toBe('true');
    // ... of what this onnxruntime-node version does not bundle: on Linux x64, the CUDA 12 files
    const metadata = createRequire(import.meta.url)('onnxruntime-node/script/install-metadata.js') as {
      requirements: Record<string, string[]>;
      manifests: Record<string, Record<string, unknown>>;
    };
    expect(metadata.requirements['linux/x64']).toEqual(['cuda12']);
    expect(Object.keys(metadata.manifests['linux/x64:cuda12'])).toContain('./libonnxruntime_providers_cuda.so');
  });
});
