import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = `${ROOT}bin/initramfs-restore.js`;

export interface Run {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs the built CLI the way a user does; with `uid`, as that user (and group), which takes root. */
export function cli(args: string[], options: { env?: Record<string, string>; input?: Buffer; timeout?: number; uid?: number } = {}): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    uid: options.uid,
    gid: options.uid,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    input: options.input,
    maxBuffer: 1 << 30,
    timeout: options.timeout ?? 300_000,
    // A run stuck in a system call never gets to its SIGTERM handler.
    killSignal: 'SIGKILL',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/**
 * Runs a shell command and returns its stdout. With `env`, node_modules/.bin comes first on
 * PATH so that `node` is the project's Node 24, as in npm scripts.
 */
export function sh(command: string, options: { cwd?: string; input?: Buffer; env?: boolean } = {}): Buffer {
  const env = options.env ? { ...process.env, PATH: `${ROOT}node_modules/.bin:${process.env.PATH}` } : process.env;
  const r = spawnSync('bash', ['-c', command], { cwd: options.cwd, input: options.input, env, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${command}: exit ${r.status}: ${r.stderr.toString()}`);
  return r.stdout;
}

/**
 * Runs a shell command that ends in GNU cpio's `-i` and returns the names cpio could not make:
 * as a user it cannot make device nodes, names each and exits 2. Any other failure throws, as
 * in `sh`. As root the list is empty.
 */
export function cpioExtract(command: string, options: { cwd?: string; input?: Buffer } = {}): string[] {
  const r = spawnSync('bash', ['-c', command], { cwd: options.cwd, input: options.input, maxBuffer: 1 << 30 });
  const stderr = r.stderr.toString('latin1');
  const unmade = [...stderr.matchAll(/^cpio: (.*): Cannot mknod: Operation not permitted$/gm)].map((m) => m[1]);
  const rest = stderr.replace(/^cpio: .*: Cannot mknod: Operation not permitted\n/gm, '');
  if (!(r.status === 0 || (r.status === 2 && unmade.length > 0)) || rest !== '') throw new Error(`${command}: exit ${r.status}: ${stderr}`);
  return unmade;
}

/**
 * Our stderr, line by line, with each "needs root" device notice as the name it skipped: what
 * `cpioExtract` returns for the same archive, when nothing else was said.
 */
export function skippedDevices(stderr: string): string[] {
  return stderr.split('\n').filter(Boolean).map((line) => /^initramfs-restore: skipped "(.*)": (?:char|block) device \d+:\d+ needs root to create$/.exec(line)?.[1] ?? line);
}

/** Output lines as raw bytes (names need not be UTF-8). */
export function splitLines(out: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let i = out.indexOf(10); i >= 0; start = i + 1, i = out.indexOf(10, start)) lines.push(out.subarray(start, i));
  return lines;
}
