import { join } from 'node:path';
import { type Attempt, parseOrder } from '../restore/orders.js';
import { restore as runRestore } from '../restore/restore.js';
import { type Command, UsageError, maxSizeOption, parseCommandArgs, positionals, print, printError, wantsHelp, writeJson } from './common.js';
import { ignoringSignal } from './signals.js';

export const restore: Command = {
  name: 'restore',
  summary: "dracut-initramfs-restore: unpack the initramfs back into /run/initramfs for shutdown",
  usage: `Usage: initramfs-restore restore [--root DIR] [--kver VER] [--image PATH] [--order ORDER]
                                 [--engine builtin|native] [--max-size SIZE] [--json]

Runs dracut-initramfs-restore's flow under ROOT (default /):
  - exit 0 at once when ROOT/run/initramfs/bin/sh exists or .need_shutdown does not;
  - find the image: ROOT/{efi,boot,boot/efi}/MACHINE-ID/VER/initrd, /lib/modules/VER/initrd,
    /boot/initramfs-VER.img, /boot/initrd.img-VER, the first that exists (--image overrides);
    MACHINE-ID from /etc/machine-id, "Default" where dracut uses it; VER from uname -r;
  - unpack the main archives (what skipcpio leaves) into ROOT/run/initramfs: by magic
    (--order detect, the default), or through dracut's trial chain (see unpack --help);
    the builtin engine stages the tree and moves it into place only on success;
  - on success remove .need_shutdown; on failure say "Unpacking of IMG to /run/initramfs
    failed", remove run/initramfs/shutdown and exit 1;
  - expand squash-root.img with unsquashfs when the image has a squash directory.
SIGTERM is ignored while it runs, as the script ignores it.

Options:
  --root DIR         the system's root (default /)
  --kver VER         the kernel version (default: uname -r)
  --image PATH       the image to restore, instead of looking for it
  --order ORDER      detect (default), dracut-055, dracut-056, dracut-057, zstd-first,
                     initramfs-tools, or a comma list of plain gzip bzip2 xz lzma lz4 lzop zstd
  --engine E         builtin (default) or native, with a trial order: the native pipelines'
                     stderr is ours, as it is the console's at shutdown (unpack --order
                     measures it)
  --max-size SIZE    stop when the compressed members expand beyond SIZE in all (default 4G,
                     or the free space of /run/initramfs when that is less: it is a tmpfs, so
                     a bomb would fill memory)
  --json             the whole report
  -h, --help         this text
`,
  async run(argv) {
    const { values, positionals: args } = parseCommandArgs(argv, {
      root: { type: 'string' },
      kver: { type: 'string' },
      image: { type: 'string' },
      order: { type: 'string' },
      engine: { type: 'string' },
      'max-size': { type: 'string' },
      json: { type: 'boolean' },
    });
    if (wantsHelp(values, restore)) return 0;
    positionals(args, [], restore);
    let order: readonly Attempt[] | 'detect';
    try {
      order = parseOrder(values.order ?? 'detect');
    } catch (err) {
      throw new UsageError(`--order: ${(err as Error).message}`);
    }
    const engine = values.engine ?? 'builtin';
    if (engine !== 'builtin' && engine !== 'native') throw new UsageError(`--engine: "${engine}" is not builtin or native`);

    const report = await ignoringSignal('SIGTERM', () => runRestore({
      root: values.root ?? '/',
      kernelVersion: values.kver,
      image: values.image,
      order,
      engine,
      maxOutput: maxSizeOption(values['max-size'], join(values.root ?? '/', 'run/initramfs')),
      say: values.json ? () => {} : (line) => printError(line),
    }));
    if (values.json) writeJson(report);
    else if (report.outcome !== 'failed') print(`${report.outcome}: ${report.reason}`);
    else printError(report.reason);
    return report.status;
  },
};
