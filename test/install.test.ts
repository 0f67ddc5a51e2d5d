import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './support/cli.js';

/*
 * Installed as users install CLIs: `npm pack`, then `npm install -g` of the tarball into a
 * scratch prefix, with the machine's own Node and npm first on PATH (npm scripts put the
 * project's Node 24 first: those entries are dropped). Debian 12 ships Node 18 and this
 * machine kind has 20, both older than the 22.15 that has zstd in node:zlib: the installed
 * commands run again under the Node 24 the package depends on.
 */
const systemPath = (process.env.PATH ?? '').split(delimiter).filter((dir) => !dir.includes('node_modules')).join(delimiter);
const systemNode = spawnSync('node', ['--version'], { env: { ...process.env, PATH: systemPath }, encoding: 'utf8' });
const systemNpm = spawnSync('npm', ['--version'], { env: { ...process.env, PATH: systemPath }, encoding: 'utf8' });
const version = systemNode.status === 0 ? systemNode.stdout.trim() : undefined;
const [major, minor] = (version ?? 'v0.0').slice(1).split('.').map(Number);
const older = major < 22 || (major === 22 && minor < 15);
const why = version === undefined ? 'no node of its own on this machine' : systemNpm.status !== 0 ? 'no npm of its own on this machine' : undefined;

const scratch = mkdtempSync(join(tmpdir(), 'initramfs-restore-install-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(command: string, args: string[], options: { cwd?: string; path?: string } = {}) {
  const r = spawnSync(command, args, {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, PATH: options.path ?? systemPath, NO_COLOR: '1', npm_config_update_notifier: 'false' },
    maxBuffer: 1 << 26,
    timeout: 600_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

describe.skipIf(why !== undefined)(`npm pack, npm install -g with the machine's own Node (${why ?? `${version}${older ? ', older than 22.15' : ''}`})`, () => {
  it('installs without a warning and both commands work', () => {
    // dist/ is built by the suite's global setup; `prepare` would rebuild it under other tests.
    const pack = run('npm', ['pack', '--ignore-scripts', '--pack-destination', scratch]);
    expect(pack.status, pack.stderr).toBe(0);
    const tarball = readdirSync(scratch).find((f) => f.endsWith('.tgz'))!;
    expect(tarball).toMatch(/^initramfs-restore-.*\.tgz$/);

    const prefix = join(scratch, 'prefix');
    const install = run('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', join(scratch, tarball)], { cwd: scratch });
    expect(install.status, install.stderr).toBe(0);
    expect(install.stderr).not.toMatch(/npm warn/i);

    const path = `${join(prefix, 'bin')}${delimiter}${systemPath}`;
    const examine = run('initramfs-restore', ['examine', join(ROOT, 'test-images/sample.img')], { path });
    expect(examine.stderr).toBe('');
    expect(examine.status).toBe(0);
    expect(examine.stdout.toString()).toMatch(/2 archives\n[^]*\bzstd\b/);

    // The real skipcpio is the oracle where dracut is installed; the bytes after the sample's
    // early archive otherwise (examine's second row starts there).
    const sample = join(ROOT, 'test-images/sample.img');
    const skipped = run('skipcpio', [sample], { path });
    expect(skipped.status, skipped.stderr).toBe(0);
    const expected = existsSync('/usr/lib/dracut/skipcpio')
      ? spawnSync('/usr/lib/dracut/skipcpio', [sample]).stdout
      : readFileSync(sample).subarray(Number(/\n2 +(\d+)/.exec(examine.stdout.toString())![1]));
    expect(Buffer.compare(skipped.stdout, expected)).toBe(0);

    // Exit statuses come through the second run unchanged.
    expect(run('initramfs-restore', ['no-such-command'], { path }).status).toBe(2);
    expect(run('skipcpio', [join(scratch, 'missing.img')], { path }).status).toBe(1);
  });
});
