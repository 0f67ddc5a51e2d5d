import { differencesOf } from '../diff/compare.js';
import type { SortedTree } from '../diff/tree-view.js';
import { describeDirectoryTree, describeImageTree } from '../diff/views.js';
import { removeTree } from '../extract/walk-tree.js';
import { type Attempt, PRESETS, flavorOrder } from '../restore/orders.js';
import { FLAVORS, type Flavor } from '../restore/discovery.js';
import { skipcpioStart } from '../restore/skipcpio.js';
import { DRACUT_SKIPCPIO, type Engine, imageKey, vouchFor } from '../restore/trial.js';
import type { ConsoleSink } from './console.js';
import { type MeasuredTrial, measureTrial, trialWallMs } from './measure.js';
import { median, spread } from './stats.js';
const { spawnSync } = process.getBuiltinModule('node:child_process');
const { existsSync, mkdtempSync } = process.getBuiltinModule('node:fs');
const { tmpdir } = process.getBuiltinModule('node:os');
const { join } = process.getBuiltinModule('node:path');

/** The orders the verdict is about: before the fix, the fix, and the fix as its reporter described it. */
export const VALIDATED_ORDERS = ['dracut-056', 'dracut-057', 'zstd-first'] as const;
type ValidatedOrder = (typeof VALIDATED_ORDERS)[number];

export interface OrderResult {
  order: ValidatedOrder;
  winner?: string;
  /** Whether the restored tree equals what detect restores, apart from junk of failed attempts. */
  sameTree: boolean;
  /** Null with the builtin engine: our readers have no console. */
  consoleBytes: number | null;
  consoleUtf8: boolean | null;
  /** Python's words for where strict decoding fails, as oz crashed on it, and the stage that wrote it. */
  utf8Error?: string;
  utf8Stage?: string;
  junkEntries: number;
  /** The trial's pipelines (native) or attempts (builtin), one sample per run, as bench sums them. */
  wallMs: number[];
}

/**
 * holds: dracut-056 reproduces the symptom and dracut-057 restores the same tree with a clean
 * console; does-not-hold: dracut-057 fails, restores another tree or sprays the console;
 * not-reproduced: dracut-057 is fine but dracut-056's console is valid UTF-8 on this image;
 * cannot-judge: no console to judge (the builtin engine, or dracut's tools not installed).
 */
export type Verdict = 'holds' | 'does-not-hold' | 'not-reproduced' | 'cannot-judge';

/** Whether a Debian dracut's own unpack restores the image into a target that holds .need_shutdown. */
export interface FlavorResult {
  flavor: Flavor;
  stages: readonly Attempt[];
  restored: boolean;
  /** The same tree as our reading by magic restores for that flavor: 112 restores every archive, 059 and 106 what skipcpio leaves. */
  sameTree: boolean;
  /** Why not, in the failing tool's own last words when it said any. */
  reason?: string;
}

export interface ImageVerdict {
  image: string;
  engine: Engine;
  runs: number;
  orders: OrderResult[];
  /** What dracut-056 costs over dracut-057: median difference, and the spread of the samples. */
  extraMs: { median: number; percent: number; min: number; max: number };
  /** dracut-056's console output is not valid UTF-8; null when there is no console to judge. */
  bugReproduced: boolean | null;
  verdict: Verdict;
  reasons: string[];
  /** Each Debian dracut's own unpack, native engine only: told apart from the verdict on 057's fix. */
  flavors: FlavorResult[];
}

/** Why the native engine cannot run the script's pipelines here, if it cannot. */
export function nativeToolsMissing(): string | undefined {
  if (!existsSync(DRACUT_SKIPCPIO)) return `dracut's skipcpio is not installed (${DRACUT_SKIPCPIO}; Debian: dracut-core)`;
  if (spawnSync('bash', ['-c', 'command -v cpio']).status !== 0) return 'GNU cpio is not installed (Debian: cpio)';
  return undefined;
}

/**
 * The verdict on dracut's fix for one image: each order restores into a fresh directory
 * `runs` times (interleaved, so that the machine's drift falls on all alike), its tree is
 * compared with detect's as `diff` compares them, its console output checked as oz's decoder did.
 */
export async function validateImage(image: string, engine: Engine, runs: number, console?: ConsoleSink): Promise<ImageVerdict> {
  // The trees the restores should leave, described by our writer's rules without writing them,
  // first: what the process holds for the trials after adds to the walks' own peak.
  // Device nodes as the restores make them: only root's (the native engine's check needs them).
  const devices = process.getuid?.() === 0;
  const key = imageKey(image);
  const skipped = skipcpioStart(image);
  const start = 'start' in skipped ? skipped.start : 0;
  /** The trees described, each closed at the end. */
  const trees = new Set<SortedTree>();
  const describe = async (from: number, withDevices: boolean) => {
    const described = await describeImageTree(image, { start: from, devices: withDevices });
    trees.add(described.tree);
    return described;
  };
  let work: string | undefined;
  try {
    const afterSkipcpio = await describe(start, devices);
    const detect = afterSkipcpio.tree;
    let whole: SortedTree | undefined;
    if (engine === 'native') {
      const read = start === 0 && devices ? afterSkipcpio : await describe(0, true);
      vouchFor(key, read);
      whole = devices ? read.tree : (await describe(0, devices)).tree;
    }
    work = mkdtempSync(join(tmpdir(), 'initramfs-restore-validate-'));
    const results = new Map<ValidatedOrder, { report: MeasuredTrial; junkEntries: number; sameTree: boolean; wallMs: number[] }>();
    for (let run = 0; run < runs; run++) {
      for (const order of VALIDATED_ORDERS) {
        const target = join(work, `${order}-${run}`);
        const report = await measureTrial(image, target, PRESETS[order], engine, { console, asRunInitramfs: true });
        const seen = results.get(order);
        if (seen) {
          seen.wallMs.push(trialWallMs(report));
        } else {
          const junkEntries = report.attempts.reduce((n, a) => n + a.junkEntries, 0);
          results.set(order, { report, junkEntries, sameTree: restoredAsExpected(target, detect, junkEntries), wallMs: [trialWallMs(report)] });
        }
        removeTree(target);
      }
    }

    const orders = VALIDATED_ORDERS.map((order): OrderResult => {
      const { report, junkEntries, sameTree, wallMs } = results.get(order)!;
      const sprayed = report.attempts.find((a) => a.utf8Error);
      return {
        order,
        winner: report.winner,
        sameTree,
        ...(engine === 'builtin'
          ? { consoleBytes: null, consoleUtf8: null }
          : { consoleBytes: report.attempts.reduce((n, a) => n + (a.consoleBytes ?? 0), 0), consoleUtf8: !sprayed }),
        ...(sprayed ? { utf8Error: sprayed.utf8Error!.message, utf8Stage: sprayed.stage } : {}),
        junkEntries,
        wallMs,
      };
    });
    const flavors = whole ? await flavorResults(image, work, { afterSkipcpio: detect, whole }, console) : [];
    const [before, fixed, zstdFirst] = orders;
    const extra = before.wallMs.map((ms, i) => ms - fixed.wallMs[i]);
    const reasons: string[] = [];
    if (!fixed.winner) reasons.push('dracut-057 restored nothing');
    else if (!fixed.sameTree) reasons.push('dracut-057 restored a different tree than detect');
    if (fixed.consoleUtf8 === false) reasons.push(`dracut-057's ${fixed.utf8Stage} stage wrote console output that is not UTF-8: ${fixed.utf8Error}`);
    if (!zstdFirst.sameTree) reasons.push('zstd-first restored a different tree than detect');
    let verdict: Verdict;
    if (engine === 'builtin') {
      verdict = 'cannot-judge';
      reasons.unshift('the builtin engine runs our readers, which keep every decoder\'s stderr: there is no console output to judge (the native engine needs dracut\'s skipcpio and GNU cpio)');
    } else if (reasons.length > 0) {
      verdict = 'does-not-hold';
    } else if (before.consoleUtf8) {
      verdict = 'not-reproduced';
      reasons.push(`dracut-056's console output is valid UTF-8 (${before.consoleBytes} bytes): the symptom does not show on this image`);
    } else {
      verdict = 'holds';
    }
    return {
      image,
      engine,
      runs,
      orders,
      extraMs: { ...spread(extra), percent: (median(extra) / median(fixed.wallMs)) * 100 },
      bugReproduced: before.consoleUtf8 === null ? null : !before.consoleUtf8,
      verdict,
      reasons,
      flavors,
    };
  } finally {
    if (work) removeTree(work);
    for (const tree of trees) tree.close();
  }
}

/**
 * Each Debian dracut's own unpack, once, into a target that holds .need_shutdown as
 * /run/initramfs does when the script runs. 059 and 106 run the same chain; 112 its extractor.
 */
async function flavorResults(image: string, work: string, expected: { afterSkipcpio: SortedTree; whole: SortedTree }, console?: ConsoleSink): Promise<FlavorResult[]> {
  const results: FlavorResult[] = [];
  for (const flavor of FLAVORS) {
    const stages = flavorOrder(flavor);
    const target = join(work, `flavor-${flavor}`);
    const report = await measureTrial(image, target, stages, 'native', { console, asRunInitramfs: true });
    const junk = report.attempts.reduce((n, a) => n + a.junkEntries, 0);
    const last = report.attempts.at(-1);
    results.push({
      flavor,
      stages,
      restored: Boolean(report.winner),
      sameTree: Boolean(report.winner) && restoredAsExpected(target, flavor === 'dracut-112' ? expected.whole : expected.afterSkipcpio, junk),
      ...(report.winner || !last ? {} : { reason: last.consoleTail ? `${last.reason}: ${last.consoleTail}` : last.reason }),
    });
    removeTree(target);
  }
  return results;
}

/** The native engine when the script's tools are there (faithful), builtin otherwise. */
export function defaultEngine(): Engine {
  return nativeToolsMissing() ? 'builtin' : 'native';
}

/**
 * Whether the tree at `target` is `expected` once the junk a failed attempt left is set aside:
 * each of its paths the same apart from owner and mtime (the script's `cpio -id` keeps no
 * times, and an unprivileged run owns all), and at most `junk` paths more. Its description's
 * file is closed at once.
 */
function restoredAsExpected(target: string, expected: SortedTree, junk: number): boolean {
  const restored = describeDirectoryTree(target);
  try {
    let added = 0;
    for (const d of differencesOf(expected, restored, { owner: false })) {
      if (d.kind !== 'added' || ++added > junk) return false;
    }
    return true;
  } finally {
    restored.close();
  }
}
