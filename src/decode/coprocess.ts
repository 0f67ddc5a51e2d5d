import type { ChildProcess } from 'node:child_process';
import { monotonicMs } from '../clock.js';
import { openInTempDir } from '../temp.js';
import { freeNow } from './source.js';
import type { Sink } from './types.js';
const { accessSync, closeSync, constants, openSync, readFileSync, readSync, statSync, writeFileSync } = process.getBuiltinModule('node:fs');
const { delimiter, join } = process.getBuiltinModule('node:path');

/** What a co-process decoder run ended with. */
export interface CommandRun {
  /** Output bytes handed to the sink. */
  delivered: number;
  /** Why the command failed (its exit status and first words on stderr), or undefined: it succeeded. */
  failure?: string;
  /**
   * The command ran and refused its input: it exited with a status of 1 to 125, not one of a
   * shell's for a command that did not run (126, 127) or was killed (128 and up), nor by a signal.
   */
  refused?: true;
  /** With `findsEnd`, where the command left its standard input, the file: the member's end. */
  inputEnd?: number;
}

const READ_SIZE = 1 << 20;
/** The event loop turns after this much output, so that progress and signals get through. */
const YIELD_EVERY = 8 << 20;
const STDERR_KEPT = 4096;
/** How often the offset the command has read to is looked up in /proc, as a progress bar redraws. */
const REACHED_EVERY_MS = 100;
/**
 * A command that writes a few KiB at a time (xz writes 8 KiB) wakes a reader waiting on the
 * FIFO for each write, which costs both sides more than the decoding between. After two short
 * reads in a row the reader sleeps before each read, until a read finds the FIFO filling up:
 * the writes pile up meanwhile, and a FIFO of 1 MiB is far from full at such a rate
 * (bench/pipe-read.sh on the xz image).
 */
const SHORT_READ = 16 << 10;
const FILLED_READ = 512 << 10;
const PAUSE_MS = 1;
const pauseCell = new Int32Array(new SharedArrayBuffer(4));
/**
 * `sh -c` script: $1 the image, $2 the member's start, $3 its length, `rest` where it ends
 * the file, or `shared` where the command's standard input is already the file, ours (it finds
 * the member's end), the rest the command. A member that ends the file, or whose command finds
 * its end, is the command's standard input itself, from where dd seeks to (`count=0` copies
 * nothing): no second process copies it
 * through a pipe on the way, which slowed the command beside ours on two cores (bench/peers.sh).
 * Any other member goes through dd, which counts its bytes. Perl (Debian's perl-base is
 * essential) grows the FIFO to 1 MiB (F_SETPIPE_SZ, 1031) beside the command, which does not
 * wait for perl to start: with the default 64 KiB a fast command waits for each read of ours
 * (bench/pipe-read.sh on the lz4 member: 0.374 against 0.338 s; zstd's is slow enough not to
 * care). Without perl, or if Linux refuses, the FIFO stays as it is.
 */
const DD_INTO = `f=$1 s=$2 n=$3; shift 3
grow() { command -v perl >/dev/null 2>&1 && perl -e 'fcntl(STDOUT, 1031, 1 << 20)' </dev/null & }
if [ "$n" = rest ] || [ "$n" = shared ]; then
  { [ "$n" = shared ] || exec <"$f"; } && dd iflag=skip_bytes skip="$s" count=0 status=none || exit 126
  grow
  exec "$@"
fi
dd if="$f" bs=256K iflag=skip_bytes,count_bytes skip="$s" count="$n" status=none | { grow; exec "$@"; }`;

const found = new Map<string, boolean>();

/** Whether `name` is an executable on PATH, as a shell looks it up (cached per name). */
export function onPath(name: string): boolean {
  let hit = found.get(name);
  if (hit === undefined) {
    hit = (process.env.PATH ?? '').split(delimiter).some((dir) => {
      try {
        accessSync(join(dir || '.', name), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
    found.set(name, hit);
  }
  return hit;
}

const endFinders = new Map<string, boolean>();
/** How long a probe of a command may run: it decodes a few bytes. */
const PROBE_MS = 10_000;

/**
 * Whether the command `argv`, given `member` and more after it as its standard input, decodes it
 * and leaves that input at the member's end, and refuses `refused`: what a command that finds a
 * member's end must do before the walk takes the offset it leaves for the end (`findsEnd`). One
 * that reads ahead and does not seek back (a wrapper that pipes the file in) would leave it
 * further on, and without /proc no offset is read. Once per process and command.
 */
export function findsMemberEnd(argv: readonly string[], member: Uint8Array, refused: Uint8Array): boolean {
  const key = argv.join(' ');
  let finds = endFinders.get(key);
  if (finds === undefined) {
    const run = (input: Uint8Array): { status: number | null; left: number | undefined } =>
      openInTempDir((dir) => {
        const path = join(dir, 'member');
        writeFileSync(path, Buffer.concat([input, Buffer.from('more')]));
        const fd = openSync(path, 'r');
        try {
          const { status } = process.getBuiltinModule('node:child_process').spawnSync(argv[0], argv.slice(1), {
            stdio: [fd, 'ignore', 'ignore'],
            timeout: PROBE_MS,
            killSignal: 'SIGKILL',
          });
          return { status, left: fdOffset('self', fd) };
        } finally {
          closeSync(fd);
        }
      });
    try {
      const decoded = run(member);
      // A probe killed for its time refuses nothing.
      finds = decoded.status === 0 && decoded.left === member.length && ![0, null].includes(run(refused).status);
    } catch {
      // A temporary directory that cannot be made (late at shutdown) leaves the member to ours.
      finds = false;
    }
    endFinders.set(key, finds);
  }
  return finds;
}

/** Whether the decompressor `argv[0]` and what runs it (sh, dd, mkfifo) are all on PATH. */
export function canRunCoprocess(argv: readonly string[]): boolean {
  return ['sh', 'dd', 'mkfifo', argv[0]].every(onPath);
}

/** A decompressor running as a co-process, its output not yet read (startCoprocess). */
export interface Coprocess {
  /**
   * Hands the command's output to `sink` in order, until the command exits, and says how it
   * ended. A sink that throws stops the command and the error goes on. `reached` hears, every
   * REACHED_EVERY_MS, the file offset the command has read to, where Linux's /proc tells it
   * (readOffset).
   */
  drain(sink: Sink, reached?: (fileOffset: number) => void): Promise<CommandRun>;
  /** Stops the command, its output unread. */
  cancel(): void;
}

/**
 * Starts the decompressor `argv` on bytes [start, end) of `path`, or from `start` to the file's
 * end where `end` is undefined. The command sees exactly those bytes and nothing of what
 * follows (DD_INTO), but with `findsEnd`. Its output comes through a FIFO read synchronously,
 * 1 MiB at a time: Node's stream reading of a child's pipe costs more than zstd's decoding itself
 * (bench/pipe-read.sh, the zstd member, Node's start included: 0.65-0.74 s through the stream,
 * 0.35-0.40 s through the FIFO, 0.18-0.21 s for zstd alone). Until it is drained, the command
 * waits once the FIFO is full. With `findsEnd`, the command reads from `start` to the file's end
 * (`end` is not used), stops at the member's end and leaves its standard input there (xz's
 * --single-stream): that input is a descriptor of ours, whose offset the run then reports
 * (`inputEnd`; findsMemberEnd says whether the command does so).
 */
export function startCoprocess(path: string, start: number, end: number | undefined, argv: readonly string[], { findsEnd = false } = {}): Coprocess {
  let fifo: { read: number; write: number };
  try {
    fifo = openFifo();
  } catch (err) {
    // A read-only or missing temporary directory (late at shutdown) leaves our own decoder.
    const failure = `no FIFO for ${argv[0]}: ${(err as Error).message}`;
    return { drain: async () => ({ delivered: 0, failure }), cancel: () => {} };
  }
  const { read, write } = fifo;
  let input: number | undefined;
  let child: ChildProcess | undefined;
  let open = true;
  const cancel = (): void => {
    child?.kill('SIGKILL');
    child = undefined;
    if (open) {
      closeSync(read);
      if (input !== undefined) closeSync(input);
    }
    open = false;
  };
  let stderr = '';
  let exited: Promise<{ status: number | null; signal: string | null; error?: Error }>;
  try {
    if (findsEnd) input = openSync(path, 'r');
    child = process.getBuiltinModule('node:child_process').spawn(
      'sh',
      ['-c', DD_INTO, 'sh', path, String(start), findsEnd ? 'shared' : end === undefined ? 'rest' : String(end - start), ...argv],
      { stdio: [input ?? 'ignore', write, 'pipe'] },
    );
    child.stderr!.setEncoding('latin1').on('data', (text: string) => {
      if (stderr.length < STDERR_KEPT) stderr += text;
    });
    const started = child;
    exited = new Promise((resolve) => {
      started.once('error', (error) => resolve({ status: null, signal: null, error }));
      started.once('close', (status, signal) => resolve({ status, signal }));
    });
  } catch (err) {
    cancel();
    throw err;
  } finally {
    closeSync(write);
  }
  const drain = async (sink: Sink, reached?: (fileOffset: number) => void): Promise<CommandRun> => {
    let delivered = 0;
    const buf = Buffer.allocUnsafe(READ_SIZE);
    try {
      let sinceYield = 0;
      let shortReads = 0;
      let lastReached = monotonicMs();
      for (;;) {
        const pausing = shortReads >= 2;
        if (pausing) Atomics.wait(pauseCell, 0, 0, PAUSE_MS);
        // No writer is left once the command exits (or never started): then this reads 0.
        const n = readSync(read, buf, 0, READ_SIZE, null);
        if (n === 0) break;
        if (n < SHORT_READ) shortReads++;
        else if (n >= FILLED_READ || !pausing) shortReads = 0;
        await sink(buf.subarray(0, n));
        delivered += n;
        if (reached && child?.pid !== undefined && monotonicMs() - lastReached >= REACHED_EVERY_MS) {
          lastReached = monotonicMs();
          const at = readOffset(child.pid, path);
          if (at !== undefined) reached(at);
        }
        sinceYield += n;
        if (sinceYield >= YIELD_EVERY) {
          sinceYield = 0;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      const { status, signal, error } = await exited;
      child = undefined;
      if (error) return { delivered, failure: `${argv[0]} could not run: ${error.message}` };
      if (status === 0) return input === undefined ? { delivered } : { delivered, inputEnd: fdOffset('self', input) };
      const said = stderr.trim().split('\n')[0];
      const failure = `${argv.join(' ')} ${signal ? `was killed by ${signal}` : `exited with status ${status}`}${said ? `: ${said}` : ''}`;
      return status !== null && status <= 125 ? { delivered, failure, refused: true } : { delivered, failure };
    } finally {
      cancel();
      // Freed now: left to V8, a run that decodes several members or images in turn
      // (validate, diff) kept a MiB each, or the last one's for good. A sink never keeps a
      // view of a chunk past its call.
      freeNow(buf.buffer);
    }
  };
  return { drain, cancel };
}

/**
 * How far into the file `path` the command of the shell `pid` (DD_INTO) has read: the offset of
 * standard input in the process that reads the file, the command itself where the member ends
 * the file, dd where it feeds the command through a pipe, by Linux's /proc; undefined where
 * /proc does not say. For a progress bar: a few system calls.
 */
function readOffset(pid: number, path: string): number | undefined {
  try {
    const file = statSync(path);
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').split(' ').filter(Boolean);
    for (const reader of [String(pid), ...children]) {
      const input = statSync(`/proc/${reader}/fd/0`, { throwIfNoEntry: false });
      if (input?.ino !== file.ino || input.dev !== file.dev) continue;
      return fdOffset(reader, 0);
    }
  } catch {
    // A process gone between two reads, or no /proc: nothing to say.
  }
  return undefined;
}

/** The offset of descriptor `fd` of process `pid`, by Linux's /proc; undefined where it does not say. */
function fdOffset(pid: string, fd: number): number | undefined {
  try {
    const pos = /^pos:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'latin1'));
    return pos ? Number(pos[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A pipe with a blocking read end: Node makes none but a FIFO. The write end is write-only, so
 * that the command gets SIGPIPE once the read end is closed; opening it needs a reader, the
 * non-blocking one that is closed at once. Its name goes as soon as it is open.
 */
function openFifo(): { read: number; write: number } {
  return openInTempDir((dir) => {
    const fifo = join(dir, 'out');
    const made = process.getBuiltinModule('node:child_process').spawnSync('mkfifo', ['-m', '600', fifo], { stdio: 'ignore' });
    if (made.status !== 0) throw new Error(`mkfifo failed in ${dir}`);
    const opener = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const write = openSync(fifo, constants.O_WRONLY);
      try {
        return { read: openSync(fifo, constants.O_RDONLY), write };
      } catch (err) {
        closeSync(write);
        throw err;
      }
    } finally {
      closeSync(opener);
    }
  });
}
