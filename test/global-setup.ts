import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { ROOT } from './support/cli.js';

/**
 * The CLI tests run bin/, which runs dist/: build it once so tests never see stale code. The
 * fixtures and the hostile corpus are made by the real tools, again only when their script is
 * newer than its output.
 */
export default function setup(): void {
  execFileSync(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, '-p', ROOT], { stdio: 'inherit' });
  // The tests and scripts are type-checked too, against the same strict rules, without output.
  execFileSync(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, '-p', `${ROOT}tsconfig.test.json`], { stdio: 'inherit' });
  const script = `${ROOT}test-images/build-fixtures.sh`;
  const stamp = `${ROOT}test-images/build/fixtures.json`;
  if (!existsSync(stamp) || statSync(stamp).mtimeMs < statSync(script).mtimeMs) {
    execFileSync('bash', [script, `${ROOT}test-images/build`], { stdio: 'inherit' });
  }
  const hostile = `${ROOT}test-images/hostile/make-hostile.ts`;
  const cases = `${ROOT}test-images/hostile/build/cases.json`;
  if (!existsSync(cases) || statSync(cases).mtimeMs < statSync(hostile).mtimeMs) {
    execFileSync(process.execPath, [hostile, `${ROOT}test-images/hostile/build`], { stdio: 'inherit' });
  }
}
