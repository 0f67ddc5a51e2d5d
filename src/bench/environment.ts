const { spawnSync } = process.getBuiltinModule('node:child_process');
const { createHash } = process.getBuiltinModule('node:crypto');
const {
  closeSync, constants, existsSync, fstatSync, openSync, readFileSync, readSync, readdirSync, realpathSync,
  statSync,
} = process.getBuiltinModule('node:fs');
const { cpus, release, totalmem } = process.getBuiltinModule('node:os');
const { join } = process.getBuiltinModule('node:path');

/** What a benchmark's figures depend on, so that a reader can tell two runs apart. */
export interface Machine {
  cpu: string;
  cores: number;
  memoryBytes: number;
  kernel: string;
  os?: string;
  node: string;
}

export function describeMachine(): Machine {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryBytes: totalmem(),
    kernel: release(),
    os: osRelease('/etc/os-release').PRETTY_NAME,
    node: process.version,
  };
}

/** The version line of every native tool the trial chain may run; null when it is missing. */
export function describeTools(): Record<string, string | null> {
  const first = (command: string, args: string[], pattern = /\S/): string | null => {
    const run = spawnSync(command, args, { encoding: 'latin1' });
    if (run.error) return null;
    return `${run.stdout}\n${run.stderr}`.split('\n').map((l) => l.trim()).find((l) => pattern.test(l)) ?? null;
  };
  const dpkg = (pkg: string): string | null => {
    const run = spawnSync('dpkg-query', ['-W', '-f', '${Version}', pkg], { encoding: 'latin1' });
    return run.status === 0 && run.stdout ? `${pkg} ${run.stdout}` : null;
  };
  return {
    cpio: first('cpio', ['--version']),
    gzip: first('gzip', ['--version']),
    bzip2: first('bzip2', ['--help'], /Version/),
    xz: first('xz', ['--version']),
    lz4: first('lz4', ['--version']),
    lzop: first('lzop', ['--version'], /^lzop/),
    zstd: first('zstd', ['--version']),
    skipcpio: existsSync('/usr/lib/dracut/skipcpio') ? dpkg('dracut-core') ?? '/usr/lib/dracut/skipcpio' : null,
    // GNU time calls itself "UNKNOWN" on Debian: the package knows better.
    'GNU time': existsSync('/usr/bin/time') ? dpkg('time') ?? first('/usr/bin/time', ['--version']) : null,
  };
}

/** `KEY=value` lines of an os-release file, unquoted. */
function osRelease(path: string): Record<string, string> {
  try {
    return parseOsRelease(readFileSync(path, 'utf8'));
  } catch {
    return {};
  }
}

function parseOsRelease(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const m of text.matchAll(/^(\w+)=("?)(.*)\2$/gm)) fields[m[1]] = m[3];
  return fields;
}

/**
 * A restored tree is the archive's: what it calls a release file may be a FIFO (open would
 * block), a device (as root, cpio makes them) or huge. Only a small regular file is read, and
 * opened so that neither a last-moment symlink nor a FIFO can catch it.
 */
function smallFile(path: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > 64 * 1024) return undefined;
    return readFileSync(fd, 'utf8');
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** An image's identity: its size and hash, read in chunks. */
export function imageIdentity(image: string): { bytes: number; sha256: string } {
  const hash = createHash('sha256');
  const fd = openSync(image, 'r');
  try {
    const chunk = Buffer.alloc(1 << 20);
    let n: number;
    while ((n = readSync(fd, chunk, 0, chunk.length, null)) > 0) hash.update(chunk.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return { bytes: statSync(image).size, sha256: hash.digest('hex') };
}

/** What a restored tree says of itself: its kernel modules' versions and the initrd-release line. */
export function describeRestoredTree(root: string): { kernels: string[]; release?: string } {
  // The image's own symlinks (lib -> usr/lib) are followed, but never out of the tree.
  const top = realpathSync(root);
  const inside = (path: string): string | undefined => {
    try {
      const real = realpathSync(join(root, path));
      return real.startsWith(`${top}/`) ? real : undefined;
    } catch {
      return undefined;
    }
  };
  const kernels = new Set<string>();
  for (const dir of ['usr/lib/modules', 'lib/modules']) {
    const real = inside(dir);
    if (real && statSync(real).isDirectory()) for (const name of readdirSync(real)) kernels.add(name);
  }
  const release = ['usr/lib/initrd-release', 'etc/initrd-release', 'etc/os-release']
    .map((p) => inside(p))
    .map((real) => (real ? smallFile(real) : undefined))
    .map((text) => (text === undefined ? undefined : parseOsRelease(text).PRETTY_NAME))
    .find(Boolean);
  return { kernels: [...kernels].sort(), ...(release ? { release } : {}) };
}
