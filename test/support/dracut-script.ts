import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { cli } from './cli.js';

/**
 * Runs one of dracut's real dracut-initramfs-restore scripts on `image` in a private mount
 * namespace, as at shutdown: a tmpfs on /run whose /run/initramfs holds only .need_shutdown,
 * the image bind-mounted at /lib/modules/$(uname -r)/initrd where every version looks. What the
 * script left in /run/initramfs is copied to `out` (created). Its stdout is dropped.
 */
export function runRestoreScript(
  script: string,
  image: string,
  out: string,
  options: { dracutbasedir?: string; path?: string } = {},
): { status: number; tree: string; stderr: string } {
  mkdirSync(out, { recursive: true });
  const run = `
    set -e
    KV=$(uname -r)
    mount -t tmpfs tmpfs /run
    mkdir -p /run/initramfs
    touch /run/initramfs/.need_shutdown
    mount -t tmpfs tmpfs /lib/modules
    mkdir -p "/lib/modules/$KV"
    touch "/lib/modules/$KV/initrd"
    mount --bind "$1" "/lib/modules/$KV/initrd"
    set +e
    if [ -n "$3" ]; then export dracutbasedir="$3"; fi
    bash "$4" >/dev/null
    status=$?
    cp -a /run/initramfs/. "$2"/
    exit $status`;
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'bash', '-c', run, 'bash', image, out, options.dracutbasedir ?? '', script], {
    env: { ...process.env, ...(options.path ? { PATH: options.path } : {}) },
  });
  return { status: r.status ?? -1, tree: out, stderr: r.stderr.toString() };
}

/**
 * Our `restore` in the same situation as runRestoreScript's: ROOT/run/initramfs holding only
 * .need_shutdown, the image at ROOT/lib/modules/$(uname -r)/initrd.
 */
export function runOurRestore(
  root: string,
  image: string,
  args: string[],
  env: Record<string, string> = {},
): { status: number; tree: string; stderr: string } {
  const kv = release();
  mkdirSync(join(root, 'run/initramfs'), { recursive: true });
  mkdirSync(join(root, 'lib/modules', kv), { recursive: true });
  writeFileSync(join(root, 'run/initramfs/.need_shutdown'), '');
  copyFileSync(image, join(root, 'lib/modules', kv, 'initrd'));
  const run = cli(['restore', '--root', root, ...args], { env });
  return { status: run.status ?? -1, tree: join(root, 'run/initramfs'), stderr: run.stderr };
}
