const { mkdtempSync, rmSync } = process.getBuiltinModule('node:fs');
const { tmpdir } = process.getBuiltinModule('node:os');
const { join } = process.getBuiltinModule('node:path');

/**
 * What `open` opens in a new private directory in the system's temporary directory (TMPDIR).
 * The directory, and all `open` made in it, is removed as soon as `open` returns: what it
 * opened stays usable by its descriptors, and nothing is left behind however the run ends,
 * killed included.
 */
export function openInTempDir<T>(open: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'initramfs-restore-'));
  try {
    return open(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
