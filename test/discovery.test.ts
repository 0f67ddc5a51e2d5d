import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { ROOT } from './support/cli.js';
import { titled, whyNotRunScripts } from './support/needs.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLAVORS, type Flavor, findImage, findUki, isMountpointByDevice, machineId } from '../src/restore/discovery.js';

/** How each Debian dracut-initramfs-restore finds its image (docs/dracut-ng-restore.md §2), on scratch roots. */
const work = mkdtempSync(join(tmpdir(), 'irr-discovery-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let counter = 0;

const KV = '6.1.0-test';
const MID = '0123456789abcdef0123456789abcdef';
const NG_FLAVORS = ['dracut-106', 'dracut-112'] as const;

const DIR = { dir: true } as const;
type Entry = string | typeof DIR | { link: string };

/** A root holding `entries`: file contents, directories, symlinks, by absolute path. */
function makeRoot(entries: Record<string, Entry> = {}): string {
  const root = join(work, `root${counter++}`);
  mkdirSync(root);
  for (const [path, entry] of Object.entries(entries)) {
    const at = join(root, path);
    mkdirSync(typeof entry === 'object' && 'dir' in entry ? at : dirname(at), { recursive: true });
    if (typeof entry === 'string') writeFileSync(at, entry);
    else if ('link' in entry) symlinkSync(entry.link, at);
  }
  return root;
}

const never = (): boolean => false;

/** What findImage answers, without the root: the rule, and the image's path as the script would use it. */
function pick(root: string, flavor: Flavor, entriesId = MID, isMountpoint: (path: string) => boolean = never) {
  const found = findImage(root, flavor, KV, entriesId, isMountpoint);
  return found && { rule: found.rule, path: found.image.slice(root.length), exists: existsSync(found.image) };
}

describe('machineId', () => {
  it.each(FLAVORS)('%s: the first line, as `read -r` leaves it (blanks around stripped, CR kept, NUL dropped)', (flavor) => {
    expect(machineId(makeRoot({ '/etc/machine-id': `${MID}\nsecond\n` }), flavor)).toEqual({ id: MID });
    expect(machineId(makeRoot({ '/etc/machine-id': ' \tab c \t\n' }), flavor)).toEqual({ id: 'ab c' });
    expect(machineId(makeRoot({ '/etc/machine-id': 'abc\r\n' }), flavor)).toEqual({ id: 'abc\r' });
    expect(machineId(makeRoot({ '/etc/machine-id': 'a\0b\\c\n' }), flavor)).toEqual({ id: 'ab\\c' });
  });

  it.each(FLAVORS)('%s: Default when /etc/machine-id is missing', (flavor) => {
    expect(machineId(makeRoot(), flavor)).toEqual({ id: 'Default' });
  });

  it.each(FLAVORS)('%s: Default when a Default dir exists, before /etc/machine-id is read at all', (flavor) => {
    for (const base of ['/efi', '/boot', '/boot/efi']) {
      expect(machineId(makeRoot({ [`${base}/Default`]: DIR, '/etc/machine-id': '' }), flavor)).toEqual({ id: 'Default' });
    }
    expect(machineId(makeRoot({ '/boot/elsewhere': DIR, '/boot/Default': { link: 'elsewhere' }, '/etc/machine-id': 'x' }), flavor))
      .toEqual({ id: 'Default' });
    expect(machineId(makeRoot({ '/boot/Default': 'a file', '/etc/machine-id': `${MID}\n` }), flavor)).toEqual({ id: MID });
  });

  it('dracut-059: an empty file, or one without newline, ends the script (read fails under set -e)', () => {
    expect(machineId(makeRoot({ '/etc/machine-id': '' }), 'dracut-059')).toEqual({ fails: expect.stringMatching(/is empty.*exit 1/) });
    expect(machineId(makeRoot({ '/etc/machine-id': MID }), 'dracut-059')).toEqual({ fails: expect.stringMatching(/has no newline.*exit 1/) });
  });

  it('dracut-059: `uninitialized` is an id like another; an empty line is an empty id; a directory is not -f', () => {
    expect(machineId(makeRoot({ '/etc/machine-id': 'uninitialized\n' }), 'dracut-059')).toEqual({ id: 'uninitialized' });
    expect(machineId(makeRoot({ '/etc/machine-id': '\n' }), 'dracut-059')).toEqual({ id: '' });
    expect(machineId(makeRoot({ '/etc/machine-id': DIR }), 'dracut-059')).toEqual({ id: 'Default' });
  });

  it.each(NG_FLAVORS)('%s: empty is Default (-s), no newline is fine, `uninitialized` is Default', (flavor) => {
    expect(machineId(makeRoot({ '/etc/machine-id': '' }), flavor)).toEqual({ id: 'Default' });
    expect(machineId(makeRoot({ '/etc/machine-id': MID }), flavor)).toEqual({ id: MID });
    expect(machineId(makeRoot({ '/etc/machine-id': 'uninitialized\n' }), flavor)).toEqual({ id: 'Default' });
    expect(machineId(makeRoot({ '/etc/machine-id': ' uninitialized' }), flavor)).toEqual({ id: 'Default' });
  });

  it.each(NG_FLAVORS)('%s: an empty first line, or a directory (-s passes, read fails), is an empty id', (flavor) => {
    expect(machineId(makeRoot({ '/etc/machine-id': '\nsecond\n' }), flavor)).toEqual({ id: '' });
    expect(machineId(makeRoot({ '/etc/machine-id': ' \t\n' }), flavor)).toEqual({ id: '' });
    expect(machineId(makeRoot({ '/etc/machine-id': DIR }), flavor)).toEqual({ id: '' });
  });
});

describe('findImage, dracut-059', () => {
  const bls = (base: string) => ({ [`${base}/loader/entries`]: DIR, [`${base}/${MID}`]: DIR });

  it('takes the boot loader spec path on two directories alone, even when the image is missing (#1840)', () => {
    const root = makeRoot({ ...bls('/boot'), [`/boot/initrd.img-${KV}`]: 'debian' });
    const rule = `/boot/${MID}/${KV}/initrd`;
    expect(pick(root, 'dracut-059')).toEqual({ rule, path: rule, exists: false });
  });

  it('counts symlinks for both directories, dangling ones too', () => {
    const root = makeRoot({ '/efi/loader/entries': { link: 'nowhere' }, [`/efi/${MID}`]: { link: 'nowhere' } });
    expect(pick(root, 'dracut-059')?.rule).toBe(`/efi/${MID}/${KV}/initrd`);
  });

  it('tries /efi, /boot, /boot/efi in that order', () => {
    expect(pick(makeRoot({ ...bls('/boot/efi'), ...bls('/boot'), ...bls('/efi') }), 'dracut-059')?.rule).toBe(`/efi/${MID}/${KV}/initrd`);
    expect(pick(makeRoot({ ...bls('/boot/efi'), ...bls('/boot') }), 'dracut-059')?.rule).toBe(`/boot/${MID}/${KV}/initrd`);
    expect(pick(makeRoot(bls('/boot/efi')), 'dracut-059')?.rule).toBe(`/boot/efi/${MID}/${KV}/initrd`);
  });

  it('needs loader/entries and the id dir in the same base', () => {
    const root = makeRoot({
      '/efi/loader/entries': DIR,
      [`/boot/${MID}/${KV}/initrd`]: 'bls',
      '/boot/efi/loader/entries': 'a file',
      [`/boot/efi/${MID}`]: DIR,
    });
    expect(pick(root, 'dracut-059')).toBeUndefined();
  });

  it('with an empty id, tests /efi/ itself and names /efi//$KV/initrd', () => {
    const root = makeRoot({ '/efi/loader/entries': DIR });
    expect(pick(root, 'dracut-059', '')).toEqual({ rule: `/efi//${KV}/initrd`, path: `/efi/${KV}/initrd`, exists: false });
  });

  it('then -f /lib/modules/$KV/initrd, then -f /boot/initrd.img-$KV', () => {
    const both = { [`/lib/modules/${KV}/initrd`]: 'modules', [`/boot/initrd.img-${KV}`]: 'debian' };
    expect(pick(makeRoot({ ...bls('/boot/efi'), ...both }), 'dracut-059')?.rule).toBe(`/boot/efi/${MID}/${KV}/initrd`);
    expect(pick(makeRoot(both), 'dracut-059')).toEqual({ rule: `/lib/modules/${KV}/initrd`, path: `/lib/modules/${KV}/initrd`, exists: true });
    const dirThere = makeRoot({ [`/lib/modules/${KV}/initrd`]: DIR, [`/boot/initrd.img-${KV}`]: 'debian' });
    expect(pick(dirThere, 'dracut-059')?.rule).toBe(`/boot/initrd.img-${KV}`);
    expect(pick(makeRoot({ [`/boot/initrd.img-${KV}`]: DIR }), 'dracut-059')).toBeUndefined();
  });

  it('then `mountpoint -q /efi`, then /boot/efi, naming an image that need not exist', () => {
    const asked: string[] = [];
    const mounted = (mounts: string[]) => (path: string) => {
      asked.push(path);
      return mounts.includes(path);
    };
    const root = makeRoot();
    expect(pick(root, 'dracut-059', MID, mounted([join(root, 'efi'), join(root, 'boot/efi')])))
      .toEqual({ rule: `/efi/${MID}/${KV}/initrd`, path: `/efi/${MID}/${KV}/initrd`, exists: false });
    expect(asked).toEqual([join(root, 'efi')]);
    expect(pick(root, 'dracut-059', MID, mounted([join(root, 'boot/efi')]))?.rule).toBe(`/boot/efi/${MID}/${KV}/initrd`);
    asked.length = 0;
    expect(pick(makeRoot({ [`/boot/initrd.img-${KV}`]: 'debian' }), 'dracut-059', MID, mounted([]))?.rule).toBe(`/boot/initrd.img-${KV}`);
    expect(asked).toEqual([]);
  });

  it('knows none of the names 106 and 112 look for', () => {
    const root = makeRoot({
      [`/boot/${MID}/${KV}/initrd`]: 'bls without loader/entries',
      [`/boot/initramfs-${KV}.img`]: 'fedora',
      [`/boot/initrd-${KV}.x`]: 'glob',
      '/boot/initrd.img': 'versionless',
      '/boot/initramfs-linux.img': 'arch',
      '/initrd.img': 'top',
    });
    expect(pick(root, 'dracut-059')).toBeUndefined();
  });

  it('finds nothing in an empty root, or one where /boot is a file', () => {
    expect(pick(makeRoot(), 'dracut-059')).toBeUndefined();
    expect(pick(makeRoot({ '/boot': 'a file' }), 'dracut-059')).toBeUndefined();
  });
});

describe.each(NG_FLAVORS)('findImage, %s', (flavor) => {
  const glob = `/boot/initr*${KV}*`;

  it('takes -f $base/$MID/$KV/initrd for /efi, /boot, /boot/efi in that order, with no loader/entries', () => {
    const all = { [`/efi/${MID}/${KV}/initrd`]: 'efi', [`/boot/${MID}/${KV}/initrd`]: 'boot', [`/boot/efi/${MID}/${KV}/initrd`]: 'esp' };
    expect(pick(makeRoot(all), flavor)).toEqual({ rule: `/efi/${MID}/${KV}/initrd`, path: `/efi/${MID}/${KV}/initrd`, exists: true });
    const notEfi = makeRoot({ ...all, [`/efi/${MID}/${KV}/initrd`]: DIR });
    expect(pick(notEfi, flavor)?.rule).toBe(`/boot/${MID}/${KV}/initrd`);
    expect(pick(makeRoot({ [`/boot/efi/${MID}/${KV}/initrd`]: 'esp' }), flavor)?.rule).toBe(`/boot/efi/${MID}/${KV}/initrd`);
  });

  it('never takes a missing boot loader spec path', () => {
    const root = makeRoot({ '/boot/loader/entries': DIR, [`/boot/${MID}`]: DIR, [`/boot/initrd.img-${KV}`]: 'debian' });
    expect(pick(root, flavor)).toEqual({ rule: glob, path: `/boot/initrd.img-${KV}`, exists: true });
    expect(pick(makeRoot({ '/efi/loader/entries': DIR, [`/efi/${MID}`]: DIR }), flavor)).toBeUndefined();
  });

  it('skips the boot loader spec paths for an empty id', () => {
    expect(pick(makeRoot({ [`/boot/${KV}/initrd`]: 'boot//KV', [`/efi/${KV}/initrd`]: 'efi//KV' }), flavor, '')).toBeUndefined();
  });

  it('then -f /lib/modules/$KV/initrd, then -f /boot/initramfs-$KV.img, then the glob', () => {
    const rest = { [`/lib/modules/${KV}/initrd`]: 'modules', [`/boot/initramfs-${KV}.img`]: 'fedora', [`/boot/initrd.img-${KV}`]: 'debian' };
    expect(pick(makeRoot({ ...rest, [`/boot/efi/${MID}/${KV}/initrd`]: 'esp' }), flavor)?.rule).toBe(`/boot/efi/${MID}/${KV}/initrd`);
    expect(pick(makeRoot(rest), flavor)?.rule).toBe(`/lib/modules/${KV}/initrd`);
    expect(pick(makeRoot({ ...rest, [`/lib/modules/${KV}/initrd`]: DIR }), flavor)?.rule).toBe(`/boot/initramfs-${KV}.img`);
    expect(pick(makeRoot({ [`/boot/initrd.img-${KV}`]: 'debian' }), flavor)).toEqual({ rule: glob, path: `/boot/initrd.img-${KV}`, exists: true });
  });

  it('takes the glob\'s first name in byte order (bash: the locale\'s collation; C locale)', () => {
    const names = [`initrd.img-${KV}`, `initramfs-${KV}.old`, `initrd-${KV}.x`, `initrd_${KV}`];
    const root = makeRoot(Object.fromEntries(names.map((name) => [`/boot/${name}`, name])));
    expect(pick(root, flavor)?.path).toBe(`/boot/initramfs-${KV}.old`);
    writeFileSync(join(root, `boot/initrZ${KV}`), 'upper case sorts first in bytes');
    expect(pick(root, flavor)).toEqual({ rule: glob, path: `/boot/initrZ${KV}`, exists: true });
  });

  it('lets a directory match the glob (-e), but not a first match that dangles, even with a later one', () => {
    expect(pick(makeRoot({ [`/boot/initrd-${KV}.d`]: DIR }), flavor)?.path).toBe(`/boot/initrd-${KV}.d`);
    const dangling = makeRoot({ [`/boot/initra-${KV}`]: { link: 'missing' }, [`/boot/initrd.img-${KV}`]: 'debian' });
    expect(pick(dangling, flavor)).toBeUndefined();
  });

  it('matches only names that start with initr and hold the version after it', () => {
    const root = makeRoot({
      [`/boot/${KV}-initrd`]: 'version first',
      '/boot/initrd-6.1.0': 'another version',
      [`/boot/vmlinuz-${KV}`]: 'kernel',
      '/boot/initrd-old': 'no version',
    });
    expect(pick(root, flavor)).toBeUndefined();
    writeFileSync(join(root, `boot/initr${KV}`), 'the stars match nothing');
    expect(pick(root, flavor)?.path).toBe(`/boot/initr${KV}`);
  });

  it('loses the trailing newlines of the glob\'s name, as $(…) does', () => {
    expect(pick(makeRoot({ [`/boot/initrd-${KV}\n\n`]: 'odd' }), flavor)).toEqual({ rule: glob, path: `/boot/initrd-${KV}`, exists: false });
  });

  it('takes the glob before the versionless fallbacks, and never asks about mount points', () => {
    expect(pick(makeRoot({ [`/boot/initrd.img-${KV}`]: 'debian', '/boot/initrd.img': 'fallback' }), flavor)?.rule).toBe(glob);
    expect(pick(makeRoot(), flavor, MID, () => true)).toBeUndefined();
    expect(pick(makeRoot({ '/boot': 'a file' }), flavor)).toBeUndefined();
  });
});

describe('findImage, the versionless fallbacks', () => {
  const fallbacks = { '/boot/initramfs-linux.img': 'arch', '/boot/initrd.img': 'versionless', '/initrd.img': 'top' };

  it('dracut-106: only /boot/initrd.img', () => {
    expect(pick(makeRoot(fallbacks), 'dracut-106')).toEqual({ rule: '/boot/initrd.img', path: '/boot/initrd.img', exists: true });
    expect(pick(makeRoot({ '/boot/initramfs-linux.img': 'arch', '/initrd.img': 'top' }), 'dracut-106')).toBeUndefined();
  });

  it('dracut-112: /boot/initramfs-linux.img, /boot/initrd.img, /initrd.img, each -f', () => {
    expect(pick(makeRoot(fallbacks), 'dracut-112')?.rule).toBe('/boot/initramfs-linux.img');
    expect(pick(makeRoot({ ...fallbacks, '/boot/initramfs-linux.img': DIR }), 'dracut-112')?.rule).toBe('/boot/initrd.img');
    expect(pick(makeRoot({ '/initrd.img': 'top' }), 'dracut-112')).toEqual({ rule: '/initrd.img', path: '/initrd.img', exists: true });
    expect(pick(makeRoot({ '/initrd.img': DIR }), 'dracut-112')).toBeUndefined();
  });
});

describe('findUki: a unified kernel image where the boot loader spec puts them, when no script finds an image', () => {
  const uki = (root: string, id = MID) => {
    const found = findUki(root, KV, id);
    return found && { path: found.image.slice(root.length), uki: found.uki, rule: found.rule };
  };

  it('finds ENTRY-TOKEN-KV.efi under /efi, /boot and /boot/efi, in that order, and says it is a UKI', () => {
    for (const base of ['/efi', '/boot', '/boot/efi']) {
      expect(uki(makeRoot({ [`${base}/EFI/Linux/${MID}-${KV}.efi`]: 'MZ' }))).toEqual({
        path: `${base}/EFI/Linux/${MID}-${KV}.efi`, uki: true, rule: `${base}/EFI/Linux/*${KV}*.efi, a unified kernel image: no plain initrd found`,
      });
    }
    expect(uki(makeRoot({ [`/boot/efi/EFI/Linux/a-${KV}.efi`]: 'MZ', [`/efi/EFI/Linux/b-${KV}.efi`]: 'MZ' }))?.path).toBe(`/efi/EFI/Linux/b-${KV}.efi`);
  });

  it('takes boot counting names and any case of .efi, and the bare version', () => {
    expect(uki(makeRoot({ [`/boot/EFI/Linux/fedora-${KV}+3-1.efi`]: 'MZ' }))?.path).toBe(`/boot/EFI/Linux/fedora-${KV}+3-1.efi`);
    expect(uki(makeRoot({ [`/boot/EFI/Linux/fedora-${KV}.EFI`]: 'MZ' }))?.path).toBe(`/boot/EFI/Linux/fedora-${KV}.EFI`);
    expect(uki(makeRoot({ [`/boot/EFI/Linux/${KV}.efi`]: 'MZ' }))?.path).toBe(`/boot/EFI/Linux/${KV}.efi`);
  });

  it('never another kernel version, a longer one, a directory, or another suffix', () => {
    expect(uki(makeRoot({ '/boot/EFI/Linux/fedora-6.1.0-other.efi': 'MZ' }))).toBeUndefined();
    expect(uki(makeRoot({ [`/boot/EFI/Linux/fedora-${KV}.1.efi`]: 'MZ', [`/boot/EFI/Linux/fedora-x${KV}.efi`]: 'MZ' }))).toBeUndefined();
    expect(uki(makeRoot({ [`/boot/EFI/Linux/fedora-${KV}.efi`]: DIR }))).toBeUndefined();
    expect(uki(makeRoot({ [`/boot/EFI/Linux/fedora-${KV}.efi.bak`]: 'MZ', [`/boot/EFI/Linux/${MID}-${KV}.addon.efi`]: 'MZ' }))).toBeUndefined();
    expect(uki(makeRoot())).toBeUndefined();
  });

  it("prefers the machine id's entry, then byte order", () => {
    const root = makeRoot({ [`/boot/EFI/Linux/aaa-${KV}.efi`]: 'MZ', [`/boot/EFI/Linux/${MID}-${KV}.efi`]: 'MZ', [`/boot/EFI/Linux/zzz-${KV}.efi`]: 'MZ' });
    expect(uki(root)?.path).toBe(`/boot/EFI/Linux/${MID}-${KV}.efi`);
    expect(uki(root, 'zzz')?.path).toBe(`/boot/EFI/Linux/zzz-${KV}.efi`);
    expect(uki(root, 'Default')?.path).toBe(`/boot/EFI/Linux/${MID}-${KV}.efi`);
    expect(uki(makeRoot({ [`/boot/EFI/Linux/bbb-${KV}.efi`]: 'MZ', [`/boot/EFI/Linux/aaa-${KV}.efi`]: 'MZ' }), 'Default')?.path).toBe(`/boot/EFI/Linux/aaa-${KV}.efi`);
  });

  it.each(FLAVORS)('%s: no script finds a UKI: findImage stays as the script is', (flavor) => {
    expect(pick(makeRoot({ [`/boot/efi/EFI/Linux/${MID}-${KV}.efi`]: 'MZ' }), flavor)).toBeUndefined();
  });
});

describe('isMountpointByDevice', () => {
  it('sees / and /proc, not a plain directory, a file or a missing path', () => {
    const root = makeRoot({ '/efi': DIR, '/file': 'x' });
    expect(isMountpointByDevice('/')).toBe(true);
    expect(isMountpointByDevice('/proc')).toBe(true);
    expect(isMountpointByDevice(join(root, 'efi'))).toBe(false);
    expect(isMountpointByDevice(join(root, 'file'))).toBe(false);
    expect(isMountpointByDevice(join(root, 'missing'))).toBe(false);
  });
});

/**
 * The real scripts on the same layouts. Each run copies the layout onto a tmpfs root of its
 * own, in a private mount namespace, binds /usr, /dev, /proc and the fetched packages into it,
 * mounts a tmpfs on each of the layout's mount points (for 059's `mountpoint -q`, which reads
 * /proc/self/mountinfo), and chroots there: /efi, /initrd.img and /etc/machine-id are then the
 * layout's, and nothing on the host changes. Every image is a valid early + zstd image whose
 * main archive holds `which`, its own path, so /run/initramfs/which names the script's pick.
 * The 106/112 paths are get-dracut-ng.sh's layout (its header), not its output, so that the test
 * runs offline; 059 runs as installed, with its default dracutbasedir.
 */
const DRACUT_NG = `${ROOT}test-images/dracut-ng`;
const SCRIPTS: Record<Flavor, { script: string; dracutbasedir: string }> = {
  'dracut-059': { script: '/usr/lib/dracut/dracut-initramfs-restore', dracutbasedir: '' },
  'dracut-106': { script: `${DRACUT_NG}/dracut-106/usr/lib/dracut/dracut-initramfs-restore`, dracutbasedir: `${DRACUT_NG}/basedir-106` },
  'dracut-112': { script: `${DRACUT_NG}/dracut-112/usr/lib/dracut/dracut-initramfs-restore`, dracutbasedir: `${DRACUT_NG}/basedir-112` },
};

function whyNotReal(): string | undefined {
  const why = whyNotRunScripts(Object.values(SCRIPTS).flatMap(({ script, dracutbasedir }) => [script, dracutbasedir]).filter(Boolean));
  if (why) return why;
  if (spawnSync('bash', ['-c', 'command -v cpio && command -v zstd && command -v chroot']).status !== 0) return 'cpio, zstd or chroot missing';
  // 112 hands the image to 3cpio whenever it is on PATH, and that always fails (doc §3).
  if (['/usr/bin/3cpio', '/usr/sbin/3cpio'].some((path) => existsSync(path))) return '3cpio is installed: 112 would fail every unpack';
  return undefined;
}
const notReal = whyNotReal();

const KERNEL = spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.trim();

/** Files (each a distinct image), directories, symlinks and mount points, by absolute path; machine-id null: no file. */
interface Layout {
  name: string;
  images?: string[];
  dirs?: string[];
  links?: Record<string, string>;
  machineId?: string | null;
  mounts?: string[];
  /** What 059, 106 and 112 do, as measured: pins what the layout exercises. */
  want: [string, string, string];
}

const restores = (path: string): string => `restores ${path}`;
const unpackFails = (path: string): string => `fails to unpack ${path}`;
const NONE = 'no image';
const everyone = (outcome: string): Layout['want'] => [outcome, outcome, outcome];
const SILENT = 'exits 1 silently';
const [K, M] = [KERNEL, MID];

const LAYOUTS: Layout[] = [
  { name: 'Debian: /boot/initrd.img-$KV', images: [`/boot/initrd.img-${K}`], want: everyone(restores(`/boot/initrd.img-${K}`)) },
  {
    name: '/boot/initramfs-$KV.img beside Debian\'s name',
    images: [`/boot/initramfs-${K}.img`, `/boot/initrd.img-${K}`],
    want: [restores(`/boot/initrd.img-${K}`), restores(`/boot/initramfs-${K}.img`), restores(`/boot/initramfs-${K}.img`)],
  },
  {
    name: 'BLS: /boot/loader/entries, images at /boot/$MID and /efi/$MID',
    dirs: ['/boot/loader/entries'],
    images: [`/boot/${M}/${K}/initrd`, `/efi/${M}/${K}/initrd`],
    want: [restores(`/boot/${M}/${K}/initrd`), restores(`/efi/${M}/${K}/initrd`), restores(`/efi/${M}/${K}/initrd`)],
  },
  {
    name: 'BLS dirs without the image (#1840)',
    dirs: ['/boot/loader/entries', `/boot/${M}`],
    images: [`/boot/initrd.img-${K}`],
    want: [unpackFails(`/boot/${M}/${K}/initrd`), restores(`/boot/initrd.img-${K}`), restores(`/boot/initrd.img-${K}`)],
  },
  {
    name: 'BLS dirs as dangling symlinks on /efi',
    links: { '/efi/loader/entries': 'nowhere', [`/efi/${M}`]: 'nowhere' },
    images: [`/lib/modules/${K}/initrd`],
    want: [unpackFails(`/efi/${M}/${K}/initrd`), restores(`/lib/modules/${K}/initrd`), restores(`/lib/modules/${K}/initrd`)],
  },
  {
    name: '/lib/modules/$KV/initrd before the /boot names',
    images: [`/lib/modules/${K}/initrd`, `/boot/initrd.img-${K}`, `/boot/initramfs-${K}.img`],
    want: everyone(restores(`/lib/modules/${K}/initrd`)),
  },
  {
    name: 'the glob in byte order',
    images: [`/boot/initrd-${K}.x`, `/boot/initrZ-${K}`, `/boot/initramfs-${K}.old`],
    want: [NONE, restores(`/boot/initrZ-${K}`), restores(`/boot/initrZ-${K}`)],
  },
  {
    name: 'a directory matching the glob, /boot/initrd.img beside it',
    dirs: [`/boot/initrd-${K}.d`],
    images: ['/boot/initrd.img'],
    want: [NONE, unpackFails(`/boot/initrd-${K}.d`), unpackFails(`/boot/initrd-${K}.d`)],
  },
  {
    name: 'the glob\'s first match dangles',
    links: { [`/boot/initra-${K}`]: 'missing' },
    images: [`/boot/initrd.img-${K}`],
    want: [restores(`/boot/initrd.img-${K}`), NONE, NONE],
  },
  {
    // An image under /boot/Default would make Default a directory, which decides before the file is read.
    name: 'machine-id `uninitialized`, the image at /boot/uninitialized/$KV/initrd',
    machineId: 'uninitialized\n',
    dirs: ['/boot/loader/entries'],
    images: [`/boot/uninitialized/${K}/initrd`],
    want: [restores(`/boot/uninitialized/${K}/initrd`), NONE, NONE],
  },
  {
    name: 'machine-id without newline',
    machineId: M,
    images: [`/boot/${M}/${K}/initrd`, `/boot/initrd.img-${K}`],
    want: [SILENT, restores(`/boot/${M}/${K}/initrd`), restores(`/boot/${M}/${K}/initrd`)],
  },
  {
    name: 'empty machine-id',
    machineId: '',
    images: [`/boot/initrd.img-${K}`],
    want: [SILENT, restores(`/boot/initrd.img-${K}`), restores(`/boot/initrd.img-${K}`)],
  },
  {
    name: 'empty machine-id under a Default dir: never read',
    machineId: '',
    dirs: ['/efi/loader/entries'],
    images: [`/efi/Default/${K}/initrd`],
    want: everyone(restores(`/efi/Default/${K}/initrd`)),
  },
  {
    name: 'empty first line: 059 tests /efi/ itself',
    machineId: '\n',
    dirs: ['/efi/loader/entries'],
    images: [`/boot/${K}/initrd`],
    want: [unpackFails(`/efi/${K}/initrd`), NONE, NONE],
  },
  {
    name: 'no machine-id, /efi a mount point',
    machineId: null,
    mounts: ['/efi'],
    want: [unpackFails(`/efi/Default/${K}/initrd`), NONE, NONE],
  },
  {
    name: '/boot/efi a mount point holding the image',
    mounts: ['/boot/efi'],
    images: [`/boot/efi/${M}/${K}/initrd`],
    want: everyone(restores(`/boot/efi/${M}/${K}/initrd`)),
  },
  {
    name: 'the versionless fallbacks',
    images: ['/boot/initramfs-linux.img', '/boot/initrd.img', '/initrd.img'],
    want: [NONE, restores('/boot/initrd.img'), restores('/boot/initramfs-linux.img')],
  },
  { name: '/initrd.img alone', images: ['/initrd.img'], want: [NONE, NONE, restores('/initrd.img')] },
  { name: 'nothing', want: everyone(NONE) },
];

/** Writes an image at ROOT/PATH for each PATH: EARLY, then a zstd newc archive holding `which`, the PATH. */
const BUILD_IMAGES = `
set -e
root=$1 early=$2; shift 2
scratch=$(mktemp -d)
for path in "$@"; do
  mkdir -p "$(dirname "$root$path")"
  printf %s "$path" > "$scratch/which"
  (cd "$scratch" && echo which | cpio -o -H newc --quiet) | zstd -q -c | cat "$early" - > "$root$path"
done
rm -rf "$scratch"`;

/** Runs in its own mount namespace: LAYOUT copied to a tmpfs at NEWROOT, the script run chrooted there. */
const RUN_SCRIPT = `
set -u
layout=$1 newroot=$2 script=$3 basedir=$4; shift 4
mount -t tmpfs tmpfs "$newroot" || exit 90
for mount in "$@"; do mkdir -p "$newroot$mount" && mount -t tmpfs tmpfs "$newroot$mount" || exit 91; done
cp -a "$layout/." "$newroot/" || exit 92
mkdir -p "$newroot"/{usr,dev,proc,lib,run/initramfs,${DRACUT_NG.slice(1)}}
ln -s usr/bin "$newroot/bin"; ln -s usr/sbin "$newroot/sbin"; ln -s usr/lib64 "$newroot/lib64"
ln -s ../usr/lib/x86_64-linux-gnu "$newroot/lib/x86_64-linux-gnu"
for dir in /usr /dev /proc ${DRACUT_NG}; do mount --bind "$dir" "$newroot$dir" || exit 93; done
: > "$newroot/run/initramfs/.need_shutdown"
out=$(chroot "$newroot" /usr/bin/env -i PATH=/usr/sbin:/usr/bin dracutbasedir="$basedir" bash "$script" 2> "$newroot/.stderr")
rc=$?
which=$(cat "$newroot/run/initramfs/which" 2> /dev/null)
printf 'rc=%s\\nwhich=%s\\nstdout=%s\\nstderr=%s\\n' "$rc" "$which" "$out" "$(tr '\\n' '|' < "$newroot/.stderr")"`;

describe.skipIf(notReal !== undefined)(titled('the real 059, 106 and 112 pick what findImage picks', notReal), () => {
  const roots = new Map<Layout, string>();
  const scriptSays = new Map<string, string>();

  beforeAll(async () => {
    const early = join(work, 'early.cpio');
    const earlyTree = makeRoot({ '/early_cpio': '1' });
    writeFileSync(early, spawnSync('bash', ['-c', 'cd "$1" && echo early_cpio | cpio -o -H newc --quiet', 'bash', earlyTree]).stdout);
    for (const layout of LAYOUTS) {
      const root = makeRoot(Object.fromEntries([
        ...(layout.dirs ?? []).map((path): [string, Entry] => [path, DIR]),
        ...Object.entries(layout.links ?? {}).map(([path, link]): [string, Entry] => [path, { link }]),
        ...(layout.machineId === null ? [] : [['/etc/machine-id', layout.machineId ?? `${MID}\n`] as [string, Entry]]),
      ]));
      const built = spawnSync('bash', ['-c', BUILD_IMAGES, 'bash', root, early, ...(layout.images ?? [])], { encoding: 'utf8' });
      expect(built.status, built.stderr).toBe(0);
      roots.set(layout, root);
    }
    const runs = LAYOUTS.flatMap((layout) => FLAVORS.map((flavor) => ({ layout, flavor })));
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < runs.length) {
        const { layout, flavor } = runs[next++];
        const newroot = join(work, `newroot${counter++}`);
        mkdirSync(newroot);
        const { script, dracutbasedir } = SCRIPTS[flavor];
        const args = ['--mount', 'bash', '-c', RUN_SCRIPT, 'bash', roots.get(layout)!, newroot, script, dracutbasedir, ...(layout.mounts ?? [])];
        scriptSays.set(`${layout.name} ${flavor}`, await outcomeOf(args));
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
  });

  it.each(LAYOUTS)('$name', (layout) => {
    const root = roots.get(layout)!;
    const mounted = (path: string): boolean => (layout.mounts ?? []).includes(path.slice(root.length));
    const ours = FLAVORS.map((flavor) => {
      const id = machineId(root, flavor);
      if ('fails' in id) return SILENT;
      const found = findImage(root, flavor, KERNEL, id.id, mounted);
      if (!found) return NONE;
      const path = found.image.slice(root.length);
      return statSync(found.image, { throwIfNoEntry: false })?.isFile() ? restores(path) : unpackFails(path);
    });
    const theirs = FLAVORS.map((flavor) => scriptSays.get(`${layout.name} ${flavor}`));
    expect(ours).toEqual(theirs);
    expect(theirs).toEqual(layout.want);
  });
});

/** What the script did, from the harness's report: which image it restored, or how it stopped. */
function outcomeOf(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let report = '';
    let errors = '';
    child.stdout.on('data', (chunk: Buffer) => (report += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => {
      const field = (name: string): string | undefined => new RegExp(`^${name}=(.*)$`, 'm').exec(report)?.[1];
      const [rc, which, stdout, stderr] = [field('rc'), field('which'), field('stdout'), field('stderr')];
      if (rc === undefined) return resolve(`harness failed (${status}): ${errors}`);
      if (which) return resolve(restores(which));
      if (rc === '1' && stdout === 'No initramfs image found to restore!') return resolve(NONE);
      if (rc === '1' && !stdout && !stderr) return resolve(SILENT);
      const unpacking = /Unpacking of ([^|]*) to \/run\/initramfs failed/.exec(stderr ?? '');
      if (rc === '1' && unpacking) return resolve(unpackFails(posix.normalize(unpacking[1])));
      resolve(`unexpected: rc=${rc} stdout=${stdout} stderr=${stderr}`);
    });
  });
}
