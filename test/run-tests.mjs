// Runs the whole suite and ends with the line CI reads: "N passed, N failed[, N skipped]".
// Before anything, it checks for the tools the tests compare against: a machine without them
// fails in a second with one line that names them, not with a stack trace from a fixture
// script.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { delimiter, join, relative } from 'node:path';

/** Each command the tests run, with the Debian package that has it. */
const TOOLS = {
  cpio: 'cpio', gzip: 'gzip', bzip2: 'bzip2', xz: 'xz-utils', zstd: 'zstd', lz4: 'lz4', lzop: 'lzop',
  python3: 'python3', '/usr/bin/time': 'time',
};

const onPath = (tool) => (tool.startsWith('/') ? [tool] : (process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, tool)))
  .some((file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });

const missing = Object.keys(TOOLS).filter((tool) => !onPath(tool));
const noVitest = !existsSync('node_modules/vitest/vitest.mjs');
if (missing.length > 0 || noVitest) {
  const packages = [...new Set(missing.map((tool) => TOOLS[tool]))];
  const what = [...missing, ...(noVitest ? ['node_modules (npm ci)'] : [])].join(', ');
  console.log(`npm test: missing ${what}: \`npm run setup\` installs everything the tests need${packages.length ? ` (or: apt-get install ${packages.join(' ')}${noVitest ? '; npm ci' : ''})` : ''}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

// Run as a user, the suite's fixtures hold device nodes GNU cpio cannot make and dracut's
// scripts cannot run in a mount namespace: those tests fail or skip (CI runs as root).
if (process.getuid?.() !== 0) console.log('npm test: not root: the tests that extract device nodes or run dracut\'s scripts fail or skip as a user; as root: sudo npm test');

mkdirSync('.scratch', { recursive: true });
const report = '.scratch/vitest-report.json';
const run = spawnSync(process.execPath, [
  'node_modules/vitest/vitest.mjs', 'run',
  '--reporter=default', '--reporter=json', `--outputFile.json=${report}`,
  ...process.argv.slice(2),
], { stdio: 'inherit' });
let passed = 0;
let failed = 0;
let skipped = 0;
try {
  const json = JSON.parse(readFileSync(report, 'utf8'));
  passed = json.numPassedTests;
  // A file that failed to load has no failed assertion but must still count.
  const brokenFiles = json.testResults.filter((t) => t.status === 'failed' && !t.assertionResults.some((a) => a.status === 'failed'));
  failed = json.numFailedTests + brokenFiles.length;
  skipped = json.numPendingTests + (json.numTodoTests ?? 0);
  // What did not run, one line per file and block (the block's title says what it needs).
  const blocks = new Map();
  for (const file of json.testResults) {
    for (const test of file.assertionResults) {
      if (!['skipped', 'pending', 'todo'].includes(test.status)) continue;
      const key = `${relative(process.cwd(), file.name)} › ${test.ancestorTitles[0] ?? test.title}`;
      blocks.set(key, (blocks.get(key) ?? 0) + 1);
    }
  }
  for (const [block, count] of blocks) console.log(`skipped: ${block} (${count} test${count === 1 ? '' : 's'})`);
} catch {
  failed = Math.max(failed, 1);
}
if (run.status !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(run.status ?? 1);
