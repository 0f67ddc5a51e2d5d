#!/usr/bin/env node
import { fileURLToPath } from 'node:url';
import { nodeIsRecentEnough, rerunUnderPackagedNode } from '../dist/cli/runtime.js';

if (nodeIsRecentEnough()) {
  (await import('../dist/tiers.js')).dropOptimizingCompilers();
  const { main } = await import('../dist/cli/main.js');
  process.exitCode = await main(process.argv.slice(2));
} else {
  await rerunUnderPackagedNode('initramfs-restore', fileURLToPath(import.meta.url));
}
