import { existsSync, readFileSync } from 'node:fs';

/** What a command and every process it waited for cost. */
export interface ResourceUsage {
  userMs: number;
  sysMs: number;
  /** The largest process's peak RSS (wait4's ru_maxrss), in KiB: known only with GNU time. */
  peakRssKb?: number;
}

const GNU_TIME = '/usr/bin/time';
let gnuTime: boolean | undefined;

/** Node sees no child's rusage: GNU time reports what wait4 says, peak RSS included. */
export function haveGnuTime(): boolean {
  return (gnuTime ??= existsSync(GNU_TIME));
}

/**
 * `argv` wrapped so that its resource usage lands in `reportFile`: GNU time when installed, bash's
 * `times` otherwise (CPU only). A file, because GNU time opens its output by name and a child's
 * pipe from Node is a socket, which /dev/fd cannot reopen. The exit status is the command's.
 */
export function measuredCommand(argv: readonly string[], reportFile: string): string[] {
  if (haveGnuTime()) return [GNU_TIME, '-f', 'rusage %U %S %M', '-o', reportFile, '--', ...argv];
  return ['bash', '-c', '"$@"; status=$?; times > "$0"; exit $status', reportFile, ...argv];
}

/** Reads what measuredCommand wrote; zeros when the command never ran. */
export function readUsage(reportFile: string): ResourceUsage {
  let text = '';
  try {
    text = readFileSync(reportFile, 'latin1');
  } catch {
    return { userMs: 0, sysMs: 0 };
  }
  // GNU time puts "Command exited with non-zero status N" on a line of its own before ours.
  const gnu = /^rusage ([\d.]+) ([\d.]+) (\d+)$/m.exec(text);
  if (gnu) return { userMs: Number(gnu[1]) * 1000, sysMs: Number(gnu[2]) * 1000, peakRssKb: Number(gnu[3]) };
  // bash's `times`: the shell's user and system time, then its children's ("0m0.512s 0m0.120s").
  const [user = 0, sys = 0] = [...(text.trim().split('\n')[1] ?? '').matchAll(/(\d+)m([\d.,]+)s/g)]
    // bash prints the locale's decimal point.
    .map((m) => (Number(m[1]) * 60 + Number(m[2].replace(',', '.'))) * 1000);
  return { userMs: user, sysMs: sys };
}
