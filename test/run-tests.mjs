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

// As a user GNU cpio cannot make the fixtures' device nodes and dracut's scripts cannot run in
// a mount namespace: those tests are skipped, and say so (CI runs as root).
if (process.getuid?.() !== 0) console.log('npm test: not root: the tests that need root are skipped, each named below; all of them run as root: sudo npm test');

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
  // What did not run, a line for each block or test that was skipped whole: the one whose
  // title says why (test/support/needs.ts), else the outermost.
  const lines = new Map();
  for (const file of json.testResults) {
    const isSkipped = (test) => ['skipped', 'pending', 'todo'].includes(test.status);
    const paths = file.assertionResults.map((test) => [...test.ancestorTitles, test.title]);
    file.assertionResults.forEach((test, k) => {
      if (!isSkipped(test)) return;
      const path = paths[k];
      const saysWhy = path.findIndex((title) => title.includes('(skipped: '));
      const outermost = path.findIndex((_, d) => file.assertionResults.every((other, j) =>
        isSkipped(other) || path.slice(0, d + 1).some((title, i) => title !== paths[j][i])));
      const depth = saysWhy >= 0 ? saysWhy : outermost >= 0 ? outermost : path.length - 1;
      const key = `${relative(process.cwd(), file.name)} › ${path.slice(0, depth + 1).join(' › ')}`;
      lines.set(key, (lines.get(key) ?? 0) + 1);
    });
  }
  for (const [line, count] of lines) console.log(`skipped: ${line} (${count} test${count === 1 ? '' : 's'})`);
} catch {
  failed = Math.max(failed, 1);
}
if (run.status !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(run.status ?? 1);
