#!/usr/bin/env node
// A drop-in for dracut's /usr/lib/dracut/skipcpio: its arguments, output and exit status.
import { nodeIsRecentEnough, refuseArgumentsNotAsGiven, rerunUnderPackagedNode } from '../dist/cli/runtime.js';

// dracut's skipcpio exits 1 for any trouble.
await refuseArgumentsNotAsGiven('skipcpio', 1);

if (nodeIsRecentEnough()) {
  (await import('../dist/tiers.js')).compileOnMainThread();
  const { skipcpio } = await import('../dist/restore/skipcpio.js');
  const args = process.argv.slice(2);
  if (args.length !== 1) {
    process.stderr.write('Usage: skipcpio <file>\n');
    process.exit(1);
  }
  const result = skipcpio(args[0], 1);
  if (result.message) process.stderr.write(`skipcpio: ${result.message}\n`);
  process.exit(result.status);
} else {
  const { fileURLToPath } = await import('node:url');
  await rerunUnderPackagedNode('skipcpio', fileURLToPath(import.meta.url));
}
