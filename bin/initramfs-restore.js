#!/usr/bin/env node
import { nodeIsRecentEnough, refuseArgumentsNotAsGiven, rerunUnderPackagedNode } from '../dist/cli/runtime.js';

await refuseArgumentsNotAsGiven('initramfs-restore', 2);

if (nodeIsRecentEnough()) {
  const tiers = await import('../dist/tiers.js');
  tiers.dropOptimizingCompilers();
  tiers.compileOnMainThread();
  (await import('../dist/heap.js')).capYoungGeneration();
  const { main } = await import('../dist/cli/main.js');
  // At once: Node's own way out, its event loop drained and its environment freed, took 2 to
  // 14 ms longer (bench/alternate.sh, docs/performance.md). Every write was synchronous.
  process.exit(await main(process.argv.slice(2)));
} else {
  const { fileURLToPath } = await import('node:url');
  await rerunUnderPackagedNode('initramfs-restore', fileURLToPath(import.meta.url));
}
