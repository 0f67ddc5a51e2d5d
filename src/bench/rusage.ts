const { readFileSync } = process.getBuiltinModule('node:fs');
const { join } = process.getBuiltinModule('node:path');

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
  gnuTime ??= /GNU/.test(process.getBuiltinModule('node:child_process').spawnSync(GNU_TIME, ['--version'], { encoding: 'latin1' }).stdout ?? '');
  return gnuTime;
}

/**
 * `argv` wrapped so that what it costs lands in files of `dir`: bash's `times` gives the CPU time
 * to the millisecond (GNU time's is in centiseconds), GNU time, when installed, the peak RSS.
 * Files, because GNU time opens its output by name and a child's pipe from Node is a socket,
 * which /dev/fd cannot reopen. The exit status is the command's.
 */
export function measuredCommand(argv: readonly string[], dir: string): string[] {
  const timed = ['bash', '-c', '"$@"; status=$?; times > "$0"; exit $status', join(dir, 'times'), ...argv];
  return haveGnuTime() ? [GNU_TIME, '-f', '%M', '-o', join(dir, 'rss'), '--', ...timed] : timed;
}

/** Reads what measuredCommand wrote; zero CPU when the command never ran. */
export function readUsage(dir: string): ResourceUsage {
  const read = (name: string): string => {
    try {
      return readFileSync(join(dir, name), 'latin1');
    } catch {
      return '';
    }
  };
  // `times`: the shell's user and system time, then its children's ("0m0.512s 0m0.120s"); bash
  // prints the locale's decimal point.
  const [userMs = 0, sysMs = 0] = [...(read('times').trim().split('\n')[1] ?? '').matchAll(/(\d+)m([\d.,]+)s/g)]
    .map((m) => (Number(m[1]) * 60 + Number(m[2].replace(',', '.'))) * 1000);
  // GNU time puts "Command exited with non-zero status N" on a line of its own before the figure.
  const rss = /^(\d+)$/m.exec(read('rss').trim().split('\n').at(-1) ?? '');
  return { userMs, sysMs, ...(rss ? { peakRssKb: Number(rss[1]) } : {}) };
}
