#!/usr/bin/env node
import { nodeIsRecentEnough, rerunUnderPackagedNode } from '../dist/cli/runtime.js';

if (nodeIsRecentEnough()) {
  (await import('../dist/tiers.js')).dropOptimizingCompilers();
  (await import('../dist/heap.js')).capYoungGeneration();
  const { main } = await import('../dist/cli/main.js');
  process.exitCode = await main(process.argv.slice(2));
} else {
  const { fileURLToPath } = await import('node:url');
  await rerunUnderPackagedNode('initramfs-restore', fileURLToPath(import.meta.url));
}
