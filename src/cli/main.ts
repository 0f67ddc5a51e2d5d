import { bench } from './bench.js';
import { cat } from './cat.js';
import { type Command, Failure, PROGRAM, UsageError, describeError, print, printError } from './common.js';
import { examine } from './examine.js';
import { list } from './list.js';
import { restore } from './restore.js';
import { stopOnSignals } from './signals.js';
import { skipcpio } from './skipcpio.js';
import { unpack } from './unpack.js';
import { validate } from './validate.js';

const COMMANDS: Command[] = [examine, list, unpack, cat, skipcpio, restore, validate, bench];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `Usage: ${PROGRAM} COMMAND [ARGS] [--help]

Reads Linux initramfs images the way the kernel does.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Exit status: 0 ok, 1 failure, 2 usage error.
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
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    printError(`unknown command "${name}"; commands: ${COMMANDS.map((c) => c.name).join(', ')}`);
    return 2;
  }
  stopOnSignals();
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
  }
}
