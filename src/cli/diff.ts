import { ScratchFileError, UsageError } from '../errors.js';
import {
  type Difference, diffArchives, differenceJson, differencesOf, formatArchiveDifference, formatDifference, summarizeArchive, summarizeDifferences,
} from '../diff/compare.js';
import type { SortedTree } from '../diff/tree-view.js';
import { type ImageTree, describeDirectoryTree, describeImageTree } from '../diff/views.js';
import { LineWriter } from '../output.js';
import { type Command, type Options, parseCommandArgs, positionals, wantsHelp } from './args.js';
import { Failure, onImage, printError, writeJsonWithArray } from './report.js';
import { maxSizeOption } from './sizes.js';
const { statSync } = process.getBuiltinModule('node:fs');

const OPTIONS = {
  stat: { type: 'boolean' },
  json: { type: 'boolean' },
  mtime: { type: 'boolean' },
  'max-size': { type: 'string' },
} satisfies Options;

/** diff's and cmp's status for trouble: 1 already means "different". */
const TROUBLE = 2;

export const diff: Command = {
  name: 'diff',
  options: OPTIONS,
  usage: `Usage: initramfs-restore diff A B [--stat] [--json] [--mtime] [--max-size SIZE]

Compares two trees and prints one line per difference, in path order (raw bytes). A and B are
each an image or a directory (such as /run/initramfs after a restore); one may be '-', an image
on standard input. An image is compared as
the tree 'unpack' leaves as root: the last entry named a path wins, hard links are grouped as
the writer resolves them, refused entries are left out, device nodes are in. A directory is
read with lstat, symlinks never followed. Each regular file's content is hashed (sha256).
Each tree, once read, is written out in path order into a file in the temporary directory
($TMPDIR) whose name is removed as soon as it is open, and the two files are compared: the
two trees are never held in memory at once (but where there is no $TMPDIR, where each file's
bytes are kept in memory).

Per path: added (+), removed (-), type changed (T), or changed (M) in mode (not a
symlink's), owner (uid:gid), size, content (the same size, another sha256), symlink target,
device numbers, hard links (the other paths sharing its inode), mtime (with --mtime only: a
restore by 'cpio -id' without -m leaves its own time). When A and B are both images their
archives are compared too, by index, as examine shows them: lines start with A.

  + etc/new
  - etc/old
  T bin/sh: file -> symlink
  M etc/foo: mode 0644 -> 0600
  A archive 1: format cpio -> zstd, start 0 -> 512

Options:
  --stat           only the summary: how many paths were added, removed and changed
  --json           {"a","b","equal","summary":{"added","removed","changed"},"differences":
                   [{"path","kind","type"|"a","b"}],"archives"?:{"a":[...],"b":[...],
                   "differences":[{"index","kind","a"?,"b"?,"fields"?}]}}; paths escaped
  --mtime          compare mtimes too
  --max-size SIZE  stop when an image's compressed members expand beyond SIZE in all (default 4G)
  -h, --help       this text

Exit status: 0 equal, 1 different, 2 trouble (a usage error, an unreadable or broken input,
named with the byte offset where it broke), as diff(1) and cmp(1): 1 cannot mean failure here.
`,
  async run(argv) {
    const { values, positionals: args } = parseCommandArgs(argv, OPTIONS);
    if (wantsHelp(values, diff)) return 0;
    const [a, b] = positionals(args, ['A', 'B'], diff);
    if (a === '-' && b === '-') throw new UsageError('diff reads standard input (-) for one side only');
    const maxOutput = maxSizeOption(values['max-size']);
    const sides: TreeSide[] = [];
    try {
      for (const input of [a, b]) sides.push(await readSide(input, maxOutput));
      return report(a, sides[0], b, sides[1], values) ? 0 : 1;
    } catch (err) {
      // A failure to read a tree's scratch file back is trouble too, and 1 would mean different.
      if (!(err instanceof Failure || err instanceof ScratchFileError)) throw err;
      printError(err.message);
      return TROUBLE;
    } finally {
      for (const side of sides) side.tree.close();
    }
  },
};

/** Prints the differences from `x` (input `a`) to `y` (`b`) as the options ask: whether there are none. */
function report(a: string, x: TreeSide, b: string, y: TreeSide, values: { json?: boolean; stat?: boolean; mtime?: boolean }): boolean {
  // Two passes where the summary comes first: the differences are not kept (an image of many entries).
  const differences = () => differencesOf(x.tree, y.tree, { mtime: values.mtime });
  const archives = x.archives && y.archives ? diffArchives(x.archives, y.archives) : undefined;
  const out = new LineWriter();
  let equal: boolean;
  if (values.json || values.stat) {
    const summary = summarizeDifferences(differences());
    equal = summary.added + summary.removed + summary.changed === 0 && (archives?.length ?? 0) === 0;
    if (values.json) {
      writeJsonWithArray(out, { a, b, equal, summary }, 'differences', asJson(differences()), {
        archives: archives && { a: x.archives!.map(summarizeArchive), b: y.archives!.map(summarizeArchive), differences: archives },
      });
    } else {
      const archiveCount = archives ? `, ${archives.length} archive${archives.length === 1 ? '' : 's'} differ${archives.length === 1 ? 's' : ''}` : '';
      out.write(`${summary.added} added, ${summary.removed} removed, ${summary.changed} changed${archiveCount}\n`);
    }
  } else {
    equal = true;
    for (const d of differences()) {
      out.write(`${formatDifference(d)}\n`);
      equal = false;
    }
    for (const d of archives ?? []) {
      out.write(`${formatArchiveDifference(d)}\n`);
      equal = false;
    }
  }
  out.flush();
  return equal;
}

function* asJson(differences: Iterable<Difference>): Generator<ReturnType<typeof differenceJson>> {
  for (const d of differences) yield differenceJson(d);
}

interface TreeSide {
  tree: SortedTree;
  /** An image's archives; a directory has none. */
  archives?: ImageTree['archives'];
}

/**
 * A directory's tree, or an image's as unpack leaves it, written out in path order (one side
 * after the other, so that the two are never described at once); any failure names the input.
 */
async function readSide(input: string, maxOutput: number): Promise<TreeSide> {
  return onImage(input, async () => {
    if (input !== '-' && statSync(input).isDirectory()) return { tree: describeDirectoryTree(input) };
    return describeImageTree(input, { maxOutput });
  });
}
