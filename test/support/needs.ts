import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { FIXTURES } from './fixtures.js';

/** Root, as CI is and as dracut is at shutdown. */
export const AS_ROOT = process.getuid?.() === 0;

/** Debian's dracut-core, whose skipcpio and scripts are the oracles. */
export const HAVE_DRACUT = existsSync('/usr/lib/dracut/skipcpio');

/**
 * Why dracut's own pipelines (the native engine) cannot run on the fixtures here, or undefined
 * when they can. As a user GNU cpio cannot make the fixtures' device nodes, so every stage
 * fails, as it would at a shutdown without root. CI runs them whatever is missing.
 */
export const WHY_NOT_NATIVE = !AS_ROOT && (JSON.parse(readFileSync(`${FIXTURES}/fixtures.json`, 'utf8')) as { devices: boolean }).devices
  ? "not root: GNU cpio cannot make the fixtures' device nodes"
  : skipUnlessCI(HAVE_DRACUT ? undefined : 'no /usr/lib/dracut/skipcpio: apt-get install dracut-core');

/**
 * Why dracut's restore scripts cannot run for real here, or undefined when they can: they
 * need the files given, root, and a mount namespace to run in.
 */
export function whyNotRunScripts(files: string[]): string | undefined {
  const missing = files.filter((file) => !existsSync(file));
  if (missing.length > 0) return `missing ${missing.join(', ')}: npm run setup`;
  if (!AS_ROOT) return 'not root: the scripts run in a mount namespace';
  if (spawnSync('unshare', ['--mount', 'true']).status !== 0) return '`unshare --mount` fails';
  return undefined;
}

/** Why to skip: CI runs everything, and what it cannot run fails there. */
export function skipUnlessCI(whyNot: string | undefined): string | undefined {
  return process.env.CI ? undefined : whyNot;
}

/**
 * A test's or block's title, with why it is skipped when it is: the runner's "skipped:" line
 * prints the title of what did not run.
 */
export function titled(title: string, whyNot: string | undefined): string {
  return whyNot ? `${title} (skipped: ${whyNot})` : title;
}
