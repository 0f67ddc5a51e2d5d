import { parseConsoleSink } from '../bench/console.js';
import { type ImageVerdict, defaultEngine, nativeToolsMissing, validateImage } from '../bench/validate.js';
import { parseEngine } from '../restore/trial.js';
import { UsageError } from '../errors.js';
import { type Command, type Options, parseCommandArgs, parseCount, wantsHelp } from './args.js';
import { onImage, print, printError, writeJson } from './report.js';
import { progressBar } from './progress.js';

const OPTIONS = {
  engine: { type: 'string' },
  runs: { type: 'string' },
  console: { type: 'string' },
  json: { type: 'boolean' },
} satisfies Options;

export const validate: Command = {
  name: 'validate',
  options: OPTIONS,
  usage: `Usage: initramfs-restore validate IMAGE... [--engine builtin|native] [--runs N] [--console SINK] [--json]

For each image, restores it with the dracut-056, dracut-057 and zstd-first orders and says:
  a) whether each restores the tree detect would: as diff compares them (types, modes,
     contents, link targets, device numbers, hard links), owners and times aside, junk of
     failed attempts set aside;
  b) whether dracut-056's console output is valid UTF-8, in the words of Python's strict
     decoder when it is not (the oz image builder's crash), and whether dracut-057's is;
  c) the extra time dracut-056 costs over dracut-057: the difference of the pipelines' wall
     times, summed per restore as bench sums them, in ms and %, with the runs and spread;
  d) the junk entries dracut-056 left.
The verdict per image needs both halves, judged on the script's own pipelines:
  holds           dracut-056 reproduces the symptom (a console that is not UTF-8) and
                  dracut-057 restores the same tree with clean console output
  does not hold   dracut-057 restores nothing or another tree, or a stage of it writes
                  console output that is not UTF-8 (the stage is named)
  not reproduced  dracut-057 is fine, but dracut-056's console is valid UTF-8 here
  cannot judge    the builtin engine, or dracut's skipcpio or GNU cpio not installed:
                  there is no console output to judge
With the native engine it also runs each Debian dracut's own unpack once, into a target that
holds .need_shutdown as /run/initramfs does: 059 and 106 (the 057 chain), 112 (3cpio --extract
when 3cpio is on PATH, else $dracutbasedir/extractinitrd), and says whether it restored the
tree and, when not, why in the tool's own words. That is reported, not part of the verdict.
Exit status: 0 the fix holds on every image; 1 it does not hold on one; 3 no verdict
(not reproduced, or cannot judge) on one and no failure; 2 usage.

Options:
  --engine E  native (the script's own pipelines; the default when dracut's skipcpio and
              GNU cpio are installed) or builtin (our readers: trees and times only)
  --runs N    restores per order and image (default 3)
  --console SINK
              where the native engine's console output goes: null, file, journal (default)
              or serial:BAUD; at serial:115200 dracut-056's spew costs seconds
  --json      every figure
  -h, --help  this text
`,
  async run(argv) {
    const { values, positionals: images } = parseCommandArgs(argv, OPTIONS);
    if (wantsHelp(values, validate)) return 0;
    if (images.length === 0) throw new UsageError('validate takes one or more IMAGEs');
    const engine = values.engine === undefined ? defaultEngine() : parseEngine(values.engine);
    const runs = parseCount(values.runs ?? '3', '--runs', 1);
    const sink = values.console === undefined ? undefined : parseConsoleSink(values.console);
    const missing = nativeToolsMissing();
    if (engine === 'native' && missing) {
      printError(`cannot judge: the native engine runs the script's pipelines, but ${missing}`);
      return NO_VERDICT;
    }
    const verdicts: ImageVerdict[] = [];
    const bar = progressBar('validate', String);
    for (const [i, image] of images.entries()) {
      bar.update(i, images.length);
      verdicts.push(await onImage(image, () => validateImage(image, engine, runs, sink)));
    }
    bar.done();
    const status = verdicts.some((v) => v.verdict === 'does-not-hold') ? 1 : verdicts.every((v) => v.verdict === 'holds') ? 0 : NO_VERDICT;
    if (values.json) {
      writeJson({ engine, runs, status, images: verdicts });
    } else {
      print(verdicts.map(describe).join('\n\n'));
      const n = `${verdicts.length} image${verdicts.length === 1 ? '' : 's'}`;
      print(status === 0 ? `\nthe fix holds on ${n} (${engine} engine)` : status === 1 ? '\nthe fix does NOT hold' : `\nno verdict on ${n}: see above`);
    }
    return status;
  },
};

/** Neither holds nor fails: the symptom was not reproduced, or there is no console to judge. */
const NO_VERDICT = 3;

function describe(v: ImageVerdict): string {
  const lines = [`${v.image} (${v.engine} engine, ${v.runs} run${v.runs === 1 ? '' : 's'} per order)`];
  for (const o of v.orders) {
    const console = o.consoleBytes === null ? 'no console (our readers)'
      : o.consoleBytes === 0 ? 'no console output'
      : `${o.consoleBytes} console bytes, ${o.consoleUtf8 ? 'valid UTF-8' : `NOT valid UTF-8 (the ${o.utf8Stage} stage)`}`;
    lines.push(`  ${o.order.padEnd(10)} ${o.winner ? `restored by ${o.winner}` : 'FAILED'}, ${o.sameTree ? 'same tree as detect' : 'a DIFFERENT tree'}, ${console}, ${o.junkEntries} junk`);
  }
  const before = v.orders[0];
  if (before.utf8Error) lines.push(`  dracut-056 console: ${before.utf8Error}`);
  const { median, percent, min, max } = v.extraMs;
  const more = median >= 0 ? 'more' : 'less';
  lines.push(`  dracut-056 takes ${Math.abs(median).toFixed(0)} ms (${Math.abs(percent).toFixed(1)}%) ${more} than dracut-057: median of ${v.runs} paired runs, differences from ${min.toFixed(0)} to ${max.toFixed(0)} ms`);
  if (v.flavors.length) lines.push("  each Debian dracut's own unpack, into a target that holds .need_shutdown as /run/initramfs does:");
  for (const f of v.flavors) {
    const how = f.stages.length === 1 ? f.stages[0] : 'the 057 chain';
    lines.push(`    ${f.flavor} (${how}): ${f.restored ? `restored, ${f.sameTree ? 'the same tree as ours by magic' : 'a DIFFERENT tree than ours by magic'}` : `FAILED: ${f.reason}`}`);
  }
  const verdict = { holds: 'the fix holds', 'does-not-hold': 'the fix does NOT hold', 'not-reproduced': 'not reproduced', 'cannot-judge': 'cannot judge' }[v.verdict];
  lines.push(`  verdict: ${verdict}${v.reasons.length ? `: ${v.reasons.join('; ')}` : ''}`);
  return lines.join('\n');
}
