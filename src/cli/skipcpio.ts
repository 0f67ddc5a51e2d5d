import { skipcpio as skip } from '../restore/skipcpio.js';
import { type Command, type Options, parseCommandArgs, positionals, wantsHelp } from './args.js';
import { Failure } from './report.js';

const OPTIONS = {} satisfies Options;

export const skipcpio: Command = {
  name: 'skipcpio',
  options: OPTIONS,
  usage: `Usage: initramfs-restore skipcpio IMAGE

Writes IMAGE to stdout without its first uncompressed cpio archive and the zero bytes after
it, exactly as dracut's /usr/lib/dracut/skipcpio does (same bytes, same exit status), quirks
included: an image under 120 bytes fails, only a leading "070701" archive is skipped (anything
else is copied whole), sizes are read like strtoul, an archive without its trailer fails,
and an image that is one uncompressed archive gives empty output.

Also installed as the command 'skipcpio', a drop-in with dracut's arguments and exit status.

Options:
  -h, --help  this text
`,
  async run(argv) {
    const { values, positionals: args } = parseCommandArgs(argv, OPTIONS);
    if (wantsHelp(values, skipcpio)) return 0;
    const [image] = positionals(args, ['IMAGE'], skipcpio);
    const result = skip(image, 1);
    if (result.status !== 0 && result.message) throw new Failure(`${image}: ${result.message}`);
    return result.status;
  },
};
