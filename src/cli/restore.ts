import { differenceJson, formatDifference } from '../diff/compare.js';
import { FLAVORS, type Flavor } from '../restore/discovery.js';
import { parseOrder } from '../restore/orders.js';
import { restore as runRestore } from '../restore/restore.js';
import { parseEngine } from '../restore/trial.js';
import { UsageError } from '../errors.js';
import { type Command, type Options, parseCommandArgs, positionals, wantsHelp } from './args.js';
import { print, printError, writeJson } from './report.js';
import { maxSizeOption } from './sizes.js';
import { ignoringSignal } from './signals.js';
const { join } = process.getBuiltinModule('node:path');

const OPTIONS = {
  root: { type: 'string' },
  flavor: { type: 'string' },
  kver: { type: 'string' },
  image: { type: 'string' },
  order: { type: 'string' },
  engine: { type: 'string' },
  'max-size': { type: 'string' },
  'dry-run': { type: 'boolean' },
  verify: { type: 'boolean' },
  json: { type: 'boolean' },
} satisfies Options;

export const restore: Command = {
  name: 'restore',
  options: OPTIONS,
  usage: `Usage: initramfs-restore restore [--root DIR] [--flavor F] [--kver VER] [--image PATH]
                                 [--order ORDER] [--engine builtin|native] [--max-size SIZE]
                                 [--dry-run | --verify] [--json]

Runs dracut-initramfs-restore's flow under ROOT (default /), as the script of Debian's dracut
F does (dracut-059: bookworm, dracut-106: trixie, dracut-112: forky, the default):
  - exit 0 at once when ROOT/run/initramfs/bin/sh exists or .need_shutdown does not;
  - the machine id from /etc/machine-id ("Default" where that script uses it; 059 fails
    silently on an empty file or one without a final newline), VER from uname -r;
  - find the image as that script does: 059 the boot loader spec path when loader/entries
    and the machine id's directory exist (without checking that the image does, dracut
    issue #1840), /lib/modules/VER/initrd, /boot/initrd.img-VER, then the spec path under
    a mounted /efi or /boot/efi; 106 and 112 {/efi,/boot,/boot/efi}/MACHINE-ID/VER/initrd,
    /lib/modules/VER/initrd, /boot/initramfs-VER.img, the first /boot/initr*VER*, then
    /boot/initrd.img (112 first /boot/initramfs-linux.img, and /initrd.img last);
    --image overrides; "No initramfs image found to restore!" and exit 1 otherwise;
  - unpack into ROOT/run/initramfs: by magic (--order detect, the default: what 112's
    extractors read, every archive; for 059 and 106 what skipcpio leaves, the archives their
    chain restores), or through a trial order (see unpack --help; dracut-112 runs 3cpio when
    it is on PATH, else $dracutbasedir/extractinitrd); the builtin engine stages the tree and
    moves it into place only when every move is checked to succeed;
  - on success remove .need_shutdown; on failure say "Unpacking of IMG to /run/initramfs
    failed", remove run/initramfs/shutdown and exit 1;
  - expand the root image: 059 squash-root.img when there is a squash directory; 106 and
    112 squashfs-root.img with unsquashfs, else erofs-root.img with fsck.erofs;
  - relabel with setfiles when SELinux is configured (106 and 112: and enabled).
SIGTERM is ignored while it runs, as the script ignores it.

Options:
  --root DIR         the system's root (default /)
  --flavor F         dracut-059, dracut-106 or dracut-112 (default)
  --kver VER         the kernel version (default: uname -r)
  --image PATH       the image to restore, instead of looking for it
  --order ORDER      detect (default), dracut-055, dracut-056, dracut-057, zstd-first,
                     initramfs-tools, dracut-112, or a comma list of plain gzip bzip2 xz
                     lzma lz4 lzop zstd 3cpio extractinitrd
  --engine E         builtin (default) or native, with a trial order: the native pipelines'
                     stderr is ours, as it is the console's at shutdown (unpack --order
                     measures it)
  --max-size SIZE    stop when the compressed members expand beyond SIZE in all (default 4G,
                     or the free space of /run/initramfs when that is less: it is a tmpfs, so
                     a bomb would fill memory)
  --dry-run          write nothing: find the image, then print what the restore needs (the
                     files' sizes as du totals them, each in whole blocks of the target's
                     filesystem: a tmpfs's pages) against what statfs says that filesystem has
                     free. Exit 0 when it fits, 1 when it does not (or cannot be told)
  --verify           then compare ROOT/run/initramfs with the image (from where the flavor
                     restores it) as 'diff IMAGE ROOT/run/initramfs' does, and print each
                     difference; exit 1 when there is one. When bin/sh shows an earlier
                     restore, verify that tree instead of skipping. Whatever else is there
                     (logs, an expanded root image) shows as added (+)
  --json             the whole report ("space" with --dry-run, "verification" with --verify:
                     {"equal","summary","differences"} as diff --json has them)
  -h, --help         this text
`,
  async run(argv) {
    const { values, positionals: args } = parseCommandArgs(argv, OPTIONS);
    if (wantsHelp(values, restore)) return 0;
    positionals(args, [], restore);
    const order = parseOrder(values.order ?? 'detect');
    const flavor = values.flavor ?? 'dracut-112';
    if (!(FLAVORS as readonly string[]).includes(flavor)) throw new UsageError(`--flavor: "${flavor}" is not one of ${FLAVORS.join(', ')}`);
    const engine = parseEngine(values.engine ?? 'builtin');
    if (values['dry-run'] && values.verify) throw new UsageError('--dry-run writes nothing, so there is nothing to --verify');
    const runInitramfs = join(values.root ?? '/', 'run/initramfs');

    const report = await ignoringSignal('SIGTERM', () => runRestore({
      root: values.root ?? '/',
      flavor: flavor as Flavor,
      kernelVersion: values.kver,
      image: values.image,
      order,
      engine,
      // A dry run measures what the tree would take, however much that is.
      maxOutput: maxSizeOption(values['max-size'], values['dry-run'] ? undefined : runInitramfs),
      say: values.json ? () => {} : (line) => printError(line),
      dryRun: values['dry-run'],
      verify: values.verify,
    }));
    const { verification } = report;
    if (values.json) {
      writeJson({ ...report, ...(verification && { verification: { ...verification, differences: verification.differences.map(differenceJson) } }) });
      return report.status;
    }
    if (report.outcome !== 'failed') print(`${report.outcome}: ${report.reason}`);
    else printError(report.reason);
    if (verification) {
      const { added, removed, changed } = verification.summary;
      print(verification.equal
        ? `verified: ${runInitramfs} is the tree the image unpacks to`
        : [`verify: ${runInitramfs} differs from the image: ${added} added, ${removed} removed, ${changed} changed`, ...verification.differences.map(formatDifference)].join('\n'));
    }
    return report.status;
  },
};
