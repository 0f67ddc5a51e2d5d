import type { BigIntStats, Stats } from 'node:fs';
const { lstatSync, readFileSync, readdirSync, realpathSync, statSync } = process.getBuiltinModule('node:fs');
const { join } = process.getBuiltinModule('node:path');

/**
 * How Debian's dracut-initramfs-restore finds the machine id and the image, per release:
 * bookworm's 059, trixie's 106 and forky's 112 (docs/dracut-ng-restore.md §2, measured on
 * the real scripts). Every path the script names is looked up below `root`, by joining, so a
 * symlink with an absolute target still points into the host. The script first tries
 * `mount -o ro /boot`; here the tree is read as it is.
 */
export type Flavor = 'dracut-059' | 'dracut-106' | 'dracut-112';

export const FLAVORS: readonly Flavor[] = ['dracut-059', 'dracut-106', 'dracut-112'];

/** `image` is the path under root; `rule` is how the script names it (the glob's pattern for the glob). */
export interface FoundImage {
  image: string;
  rule: string;
  /** A unified kernel image, found where no flavor's script looks (findUki). */
  uki?: boolean;
}

/** Where the boot loader spec puts `$MID/$KV/initrd`, in the order all three scripts try them. */
const BLS_BASES = ['/efi', '/boot', '/boot/efi'] as const;

/** What 106 and 112 take when the search by kernel version found nothing. */
const VERSIONLESS_FALLBACKS: Record<Exclude<Flavor, 'dracut-059'>, readonly string[]> = {
  'dracut-106': ['/boot/initrd.img'],
  'dracut-112': ['/boot/initramfs-linux.img', '/boot/initrd.img', '/initrd.img'],
};

/** The script's MID, or why 059's script dies reading /etc/machine-id (exit 1, no message). */
export function machineId(root: string, flavor: Flavor): { id: string } | { fails: string } {
  if (BLS_BASES.some((base) => testStat(join(root, base, 'Default'))?.isDirectory())) return { id: 'Default' };
  const file = join(root, 'etc/machine-id');
  const stats = testStat(file);
  if (flavor === 'dracut-059') {
    if (!stats?.isFile()) return { id: 'Default' };
    // A top-level `read -r` under `set -e`: when read fails, the script ends there.
    const read = bashRead(file);
    if ('error' in read) return { fails: `/etc/machine-id cannot be read (${read.error}): 059's set -e ends the script` };
    if (!read.terminated) {
      const what = read.bytes === 0 ? 'is empty' : 'has no newline';
      return { fails: `/etc/machine-id ${what}: 059's \`read -r\` fails there and set -e ends the script (exit 1, no message)` };
    }
    // 059 has no notion of `uninitialized`: it is looked for as a directory like any id.
    return { id: read.line };
  }
  // `-s`, so a directory passes too; a failed read then leaves the id empty. The read runs in
  // a function inside $(…), where bash turns set -e off: a line without newline is kept.
  if (!stats || stats.size === 0) return { id: 'Default' };
  const read = bashRead(file);
  if ('error' in read) return { id: '' };
  return { id: read.line === 'uninitialized' ? 'Default' : read.line };
}

/**
 * The image the flavor's script picks for `kernelVersion` and machine id `id`, or undefined
 * where it prints "No initramfs image found to restore!". `isMountpoint` stands for
 * `mountpoint -q`, which only 059 runs; it is given the path under root.
 */
export function findImage(
  root: string,
  flavor: Flavor,
  kernelVersion: string,
  id: string,
  isMountpoint: (path: string) => boolean = isMountpointByDevice,
): FoundImage | undefined {
  const rules = flavor === 'dracut-059' ? rules059(root, kernelVersion, id, isMountpoint) : rulesNg(root, flavor, kernelVersion, id);
  for (const rule of rules) {
    const found = rule();
    if (found) return found;
  }
  return undefined;
}

/**
 * Where no flavor's script looks, and so only when it finds nothing: a unified kernel image for
 * `kernelVersion` where the boot loader specification puts them (type #2 entries), in `/efi`,
 * `/boot` and `/boot/efi`, in that order, under `EFI/Linux`. kernel-install names one
 * `ENTRY-TOKEN-KV.efi`, with `+LEFT[-DONE]` before `.efi` while boot counting runs; of several,
 * the one named by machine id `id` wins, then the first in byte order. `.efi` in any case:
 * the ESP is FAT.
 */
export function findUki(root: string, kernelVersion: string, id: string): FoundImage | undefined {
  const forVersion = new RegExp(`(^|-)${kernelVersion.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\+\\d+(-\\d+)?)?\\.efi$`, 'i');
  for (const base of BLS_BASES) {
    const dir = `${base}/EFI/Linux`;
    let names: string[];
    try {
      names = readdirSync(join(root, dir));
    } catch {
      continue;
    }
    const matches = names
      .filter((name) => forVersion.test(name) && testStat(join(root, dir, name))?.isFile())
      .sort((a, b) => Number(b.startsWith(`${id}-`)) - Number(a.startsWith(`${id}-`)) || Buffer.compare(Buffer.from(a), Buffer.from(b)));
    if (matches.length > 0) {
      return { image: join(root, dir, matches[0]), rule: `${dir}/*${kernelVersion}*.efi, a unified kernel image: no plain initrd found`, uki: true };
    }
  }
  return undefined;
}

/**
 * util-linux `mountpoint`'s own fallback for when /proc/self/mountinfo cannot be read: the
 * path is a mount point when it is on another device than `realpath/..`, or is its own
 * parent (/). A bind mount within one file system is not seen, though mountpoint sees it in
 * mountinfo, and a non-directory never counts (`file/..` fails). Under a root other than /
 * this compares ROOT/efi with ROOT: a file system mounted there counts, whatever the host has
 * at /efi.
 */
export function isMountpointByDevice(path: string): boolean {
  let own: BigIntStats;
  let parent: BigIntStats;
  try {
    own = statSync(path, { bigint: true });
    parent = statSync(`${realpathSync(path)}/..`, { bigint: true });
  } catch {
    return false;
  }
  return own.dev !== parent.dev || own.ino === parent.ino;
}

type Rule = () => FoundImage | undefined;

/** 059's if/elif chain: the boot loader spec rules trust two directories and never look for the image itself (dracut issue #1840). */
function rules059(root: string, kv: string, id: string, isMountpoint: (path: string) => boolean): Rule[] {
  const entry = (base: string): string => `${base}/${id}/${kv}/initrd`;
  return [
    ...BLS_BASES.map((base): Rule => () =>
      (isDirOrSymlink(join(root, `${base}/loader/entries`)) && isDirOrSymlink(join(root, `${base}/${id}`)) ? found(root, entry(base)) : undefined)),
    () => regularFile(root, `/lib/modules/${kv}/initrd`),
    () => regularFile(root, `/boot/initrd.img-${kv}`),
    ...['/efi', '/boot/efi'].map((mount): Rule => () => (isMountpoint(join(root, mount)) ? found(root, entry(mount)) : undefined)),
  ];
}

/** 106's and 112's find_initrd_for_kernel_version, then what they take when it prints nothing. */
function rulesNg(root: string, flavor: Exclude<Flavor, 'dracut-059'>, kv: string, id: string): Rule[] {
  return [
    ...(id === '' ? [] : BLS_BASES.map((base): Rule => () => regularFile(root, `${base}/${id}/${kv}/initrd`))),
    () => regularFile(root, `/lib/modules/${kv}/initrd`),
    () => regularFile(root, `/boot/initramfs-${kv}.img`),
    () => firstGlobMatch(root, kv),
    ...VERSIONLESS_FALLBACKS[flavor].map((path): Rule => () => regularFile(root, path)),
  ];
}

/**
 * `files=(/boot/initr*"$KV"*)`, then `[ -e "${files[0]}" ]`: only the first name is tested,
 * so a dangling symlink there hides every later match, and a directory counts. Bash sorts
 * the names by the locale's collation; this is the C locale's, byte order. The name comes
 * back through `$(…)`, which drops trailing newlines.
 */
function firstGlobMatch(root: string, kv: string): FoundImage | undefined {
  let names: string[];
  try {
    names = readdirSync(join(root, 'boot'));
  } catch {
    return undefined;
  }
  const [first] = names
    .filter((name) => name.startsWith('initr') && name.indexOf(kv, 'initr'.length) !== -1)
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  if (first === undefined || !testStat(join(root, 'boot', first))) return undefined;
  return { image: join(root, 'boot', first.replace(/\n+$/, '')), rule: `/boot/initr*${kv}*` };
}

/**
 * What `read -r VAR` leaves in VAR: the first line without its NUL bytes and without the
 * leading and trailing blanks of the default IFS. `terminated` is read's success: false when
 * the file ends before a newline.
 */
function bashRead(file: string): { line: string; terminated: boolean; bytes: number } | { error: string } {
  let content: Buffer;
  try {
    content = readFileSync(file);
  } catch (err) {
    return { error: (err as NodeJS.ErrnoException).code ?? String(err) };
  }
  const newline = content.indexOf(0x0a);
  const line = Buffer.from(content.subarray(0, newline === -1 ? content.length : newline).filter((byte) => byte !== 0));
  return { line: line.toString('utf8').replace(/^[ \t]+|[ \t]+$/g, ''), terminated: newline !== -1, bytes: content.length };
}

function regularFile(root: string, path: string): FoundImage | undefined {
  return testStat(join(root, path))?.isFile() ? found(root, path) : undefined;
}

function found(root: string, path: string): FoundImage {
  return { image: join(root, path), rule: path };
}

/** `[[ -d P || -L P ]]`: a symlink counts even when it dangles. */
function isDirOrSymlink(path: string): boolean {
  return (testStat(path, lstatSync)?.isSymbolicLink() || testStat(path)?.isDirectory()) ?? false;
}

/** stat as `test` sees it: any failure (ENOENT, ENOTDIR, ELOOP…) is a plain no. */
function testStat(path: string, stat: (path: string) => Stats = statSync): Stats | undefined {
  try {
    return stat(path);
  } catch {
    return undefined;
  }
}
