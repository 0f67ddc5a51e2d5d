import { UsageError } from '../errors.js';
import type { Command } from './args.js';
import { Failure, PROGRAM, describeError, print, printError } from './report.js';
import { stopOnSignals } from './signals.js';

/** Each command's module loads only when it runs: Node's start is part of every command. */
export const COMMANDS: { name: string; summary: string; load: () => Promise<Command> }[] = [
  { name: 'examine', summary: 'one row per cpio archive: where it is, its compression, entries and size', load: async () => (await import('./examine.js')).examine },
  { name: 'list', summary: 'every entry of every archive (like lsinitrd, 3cpio -t)', load: async () => (await import('./list.js')).list },
  { name: 'unpack', summary: 'extract every archive into DIR as the kernel populates rootfs, safely', load: async () => (await import('./unpack.js')).unpack },
  { name: 'cat', summary: "one file's content to stdout (like lsinitrd -f)", load: async () => (await import('./cat.js')).cat },
  { name: 'du', summary: 'the extracted size per directory, largest first, and per archive', load: async () => (await import('./du.js')).du },
  { name: 'diff', summary: 'compare two images or directories as the trees unpack leaves (0 equal, 1 different, 2 trouble)', load: async () => (await import('./diff.js')).diff },
  { name: 'create', summary: 'write an initramfs: one cpio archive per DIR, each compressed as asked, reproducibly', load: async () => (await import('./create.js')).create },
  { name: 'repack', summary: "rewrite an image's compressed members in another compression, the rest as it is", load: async () => (await import('./repack.js')).repack },
  { name: 'skipcpio', summary: "dracut's skipcpio: the image after its first uncompressed archive, to stdout", load: async () => (await import('./skipcpio.js')).skipcpio },
  { name: 'restore', summary: "dracut-initramfs-restore: unpack the initramfs back into /run/initramfs for shutdown", load: async () => (await import('./restore.js')).restore },
  { name: 'validate', summary: "the verdict on dracut's fix (plain last, 057) against the old order (plain first, 056)", load: async () => (await import('./validate.js')).validate },
  { name: 'bench', summary: 'time whole restores by decompressor order and engine, against the native floor', load: async () => (await import('./bench.js')).bench },
];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `Usage: ${PROGRAM} COMMAND [ARGS] [--help]

Reads Linux initramfs images the way the kernel does.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Exit status: 0 ok, 1 failure, 2 usage error; diff: 0 equal, 1 different, 2 trouble.
Run '${PROGRAM} COMMAND --help' for a command's options.
`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(usage());
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    print(usage());
    return 0;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    printError(`unknown command "${name}"; commands: ${COMMANDS.map((c) => c.name).join(', ')}`);
    return 2;
  }
  const command = await entry.load();
  const stopListening = stopOnSignals();
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      printError(`${err.message}\nRun '${PROGRAM} ${command.name} --help' for usage.`);
      return 2;
    }
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') return 0;
    if (err instanceof Failure) {
      printError(err.message);
      return 1;
    }
    printError(describeError(err));
    if (process.env.INITRAMFS_RESTORE_DEBUG) console.error(err);
    return 1;
  } finally {
    stopListening();
  }
}
