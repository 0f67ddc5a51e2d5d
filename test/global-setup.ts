import { execFileSync } from 'node:child_process';
import { ROOT } from './support/cli.js';

/** The CLI tests run bin/, which runs dist/: build it once so tests never see stale code. */
export default function setup(): void {
  execFileSync(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, '-p', ROOT], { stdio: 'inherit' });
}
