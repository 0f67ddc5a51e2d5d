import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConsoleSink } from '../restore/console.js';
import { PRESETS } from '../restore/orders.js';
import { skipcpioStart } from '../restore/skipcpio.js';
import { type Engine, type TrialReport, extractStaged, runTrial } from '../restore/trial.js';
import { type Manifest, removeTree, treeManifest } from './manifest.js';
import { median, spread } from './stats.js';

/** The orders the verdict is about: before the fix, the fix, and the fix as its reporter described it. */
export const VALIDATED_ORDERS = ['dracut-056', 'dracut-057', 'zstd-first'] as const;
type ValidatedOrder = (typeof VALIDATED_ORDERS)[number];

export interface OrderResult {
  order: ValidatedOrder;
  winner?: string;
  /** Whether the restored tree equals what detect restores, apart from junk of failed attempts. */
  sameTree: boolean;
  treeHash: string;
  consoleBytes: number;
  consoleUtf8: boolean;
  /** Python's words for where strict decoding fails, as oz crashed on it. */
  utf8Error?: string;
  junkEntries: number;
  /** Wall time of the whole restore, one sample per run. */
  wallMs: number[];
}

export interface ImageVerdict {
  image: string;
  engine: Engine;
  runs: number;
  detectHash: string;
  orders: OrderResult[];
  /** What dracut-056 costs over dracut-057: median difference, and the spread of the samples. */
  extraMs: { median: number; percent: number; min: number; max: number };
  /** dracut-056's failed plain stage wrote something a strict UTF-8 decoder rejects. */
  bugReproduced: boolean;
  /** dracut-057 restores the same tree as detect with a console that is valid UTF-8. */
  fixHolds: boolean;
  reasons: string[];
}

/**
 * The verdict on dracut's fix for one image: each order restores into a fresh directory
 * `runs` times (interleaved, so that the machine's drift falls on all alike), its tree is
 * compared with detect's by manifest, its console output checked as oz's decoder did.
 */
export async function validateImage(image: string, engine: Engine, runs: number, console?: ConsoleSink): Promise<ImageVerdict> {
  const work = mkdtempSync(join(tmpdir(), 'initramfs-restore-validate-'));
  try {
    const start = skipcpioStart(image);
    const detectDir = join(work, 'detect');
    await extractStaged(image, 'start' in start ? start.start : 0, detectDir);
    const detect = treeManifest(detectDir);

    const results = new Map<ValidatedOrder, { report: TrialReport; manifest: Manifest; wallMs: number[] }>();
    for (let run = 0; run < runs; run++) {
      for (const order of VALIDATED_ORDERS) {
        const target = join(work, `${order}-${run}`);
        const began = performance.now();
        const report = await runTrial(image, target, PRESETS[order], engine, { console });
        const wall = performance.now() - began;
        const manifest = treeManifest(target);
        removeTree(target);
        const seen = results.get(order);
        if (seen) seen.wallMs.push(wall);
        else results.set(order, { report, manifest, wallMs: [wall] });
      }
    }

    const orders = VALIDATED_ORDERS.map((order): OrderResult => {
      const { report, manifest, wallMs } = results.get(order)!;
      const utf8Error = report.attempts.find((a) => a.utf8Error)?.utf8Error?.message;
      const junkEntries = report.attempts.reduce((n, a) => n + a.junkEntries, 0);
      return {
        order,
        winner: report.winner,
        sameTree: withoutJunk(manifest, detect, junkEntries),
        treeHash: manifest.hash,
        consoleBytes: report.attempts.reduce((n, a) => n + a.consoleBytes, 0),
        consoleUtf8: !utf8Error,
        ...(utf8Error ? { utf8Error } : {}),
        junkEntries,
        wallMs,
      };
    });
    const [before, fixed, zstdFirst] = orders;
    const extra = before.wallMs.map((ms, i) => ms - fixed.wallMs[i]);
    const reasons: string[] = [];
    if (!fixed.winner) reasons.push('dracut-057 restored nothing');
    else if (!fixed.sameTree) reasons.push('dracut-057 restored a different tree than detect');
    if (!fixed.consoleUtf8) reasons.push(`dracut-057's console output is not UTF-8: ${fixed.utf8Error}`);
    if (!zstdFirst.sameTree) reasons.push('zstd-first restored a different tree than detect');
    return {
      image,
      engine,
      runs,
      detectHash: detect.hash,
      orders,
      extraMs: { ...spread(extra), percent: (median(extra) / median(fixed.wallMs)) * 100 },
      bugReproduced: !before.consoleUtf8,
      fixHolds: reasons.length === 0,
      reasons,
    };
  } finally {
    removeTree(work);
  }
}

/** The native engine when the script's tools are there (faithful), builtin otherwise. */
export function defaultEngine(): Engine {
  return existsSync('/usr/lib/dracut/skipcpio') ? 'native' : 'builtin';
}

/** The same tree as detect's once the junk a failed attempt left is set aside. */
function withoutJunk(tree: Manifest, detect: Manifest, junk: number): boolean {
  if (tree.hash === detect.hash) return true;
  if (junk === 0) return false;
  const expected = new Set(detect.entries);
  const restored = new Set(tree.entries);
  const extra = tree.entries.filter((e) => !expected.has(e));
  return extra.length <= junk && detect.entries.every((e) => restored.has(e));
}
