import type { Readable } from 'node:stream';
import { monotonicMs } from '../clock.js';
import { escapeName } from '../cpio/names.js';
import { UsageError } from '../errors.js';
import { type Utf8Failure, Utf8Check } from './utf8.js';
const { closeSync, mkdtempSync, openSync, rmSync, writeSync } = process.getBuiltinModule('node:fs');
const { tmpdir } = process.getBuiltinModule('node:os');
const { join } = process.getBuiltinModule('node:path');

/**
 * Where a native attempt's stderr goes, which decides what dracut-056's spew costs:
 *   null         read and thrown away as fast as the pipe allows
 *   file         appended to a file, as a log file would take it
 *   journal      read line by line, one write per line, as journald stores it (the default)
 *   serial:BAUD  drained at BAUD/10 bytes per second, as a serial console prints it: when the
 *                pipe is full, cpio waits, as it waits on a real console
 */
export type ConsoleSink = { kind: 'null' } | { kind: 'file' } | { kind: 'journal' } | { kind: 'serial'; baud: number };

/** --console: a sink by name; anything else is a usage error naming `option`. */
export function parseConsoleSink(text: string, option = '--console'): ConsoleSink {
  if (text === 'null' || text === 'file' || text === 'journal') return { kind: text };
  const m = /^serial:(\d+)$/.exec(text);
  if (m && Number(m[1]) > 0) return { kind: 'serial', baud: Number(m[1]) };
  throw new UsageError(`${option}: "${text}" is not a console sink: null, file, journal or serial:BAUD (e.g. serial:115200)`);
}

export function describeSink(sink: ConsoleSink): string {
  return sink.kind === 'serial' ? `serial:${sink.baud}` : sink.kind;
}

/** How much ConsoleTally keeps of the last line (its end, where a line has no end in sight), and of the output's start. */
const LINE_KEPT = 1 << 16;
const HEAD_KEPT = 1 << 12;

export interface ConsoleSummary {
  bytes: number;
  utf8Error?: Utf8Failure;
  /** The last line not blank, trimmed and escaped (its last 64 KiB). */
  lastLine?: string;
  /** The output's first 4 KiB, trimmed: where a crash's message is. */
  head: string;
}

/**
 * What is kept of a console's output, which has no bound (dracut-056's spew is as long as the
 * image allows): how many bytes, where strict UTF-8 decoding fails, its first 4 KiB and its
 * last line that is not blank.
 */
export class ConsoleTally {
  private bytes = 0;
  private readonly utf8 = new Utf8Check();
  private head = Buffer.alloc(0);
  /** The line being read, as far as it has come (latin1), and the last complete line not blank, trimmed. */
  private line = '';
  private lastLine: string | undefined;

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.utf8.push(chunk);
    if (this.head.length < HEAD_KEPT) this.head = Buffer.concat([this.head, chunk.subarray(0, HEAD_KEPT - this.head.length)]);
    const lines = (this.line + chunk.toString('latin1')).split('\n');
    this.line = lines.pop()!.slice(-LINE_KEPT);
    this.keepLast(lines);
  }

  end(): ConsoleSummary {
    this.keepLast([this.line]);
    const utf8Error = this.utf8.end();
    return {
      bytes: this.bytes,
      ...(utf8Error ? { utf8Error } : {}),
      ...(this.lastLine !== undefined ? { lastLine: escapeName(Buffer.from(this.lastLine, 'latin1')) } : {}),
      head: this.head.toString().trim(),
    };
  }

  private keepLast(lines: string[]): void {
    for (let i = lines.length - 1; i >= 0; i--) {
      const trimmed = lines[i].slice(-LINE_KEPT).trim();
      if (trimmed) {
        this.lastLine = trimmed;
        return;
      }
    }
  }
}

/**
 * Drains `stream` into `sink`, calling `onChunk` with every chunk as it arrives. Returns a
 * function that releases what the sink holds (its file) once the stream has ended.
 */
export function drainConsole(stream: Readable, sink: ConsoleSink, onChunk: (chunk: Buffer) => void): () => void {
  let fd: number | undefined;
  let dir: string | undefined;
  if (sink.kind === 'file' || sink.kind === 'journal') {
    dir = mkdtempSync(join(tmpdir(), 'initramfs-restore-console-'));
    fd = openSync(join(dir, 'console'), 'a');
  }
  let pending = '';
  let busyUntil = 0;
  stream.on('data', (chunk: Buffer) => {
    onChunk(chunk);
    if (sink.kind === 'file') {
      writeSync(fd!, chunk);
    } else if (sink.kind === 'journal') {
      const text = pending + chunk.toString('latin1');
      const lines = text.split('\n');
      pending = lines.pop()!;
      // Written from the string: a Buffer per line took dracut-056's spew again in Node's pool, garbage until V8 collects.
      for (const line of lines) writeSync(fd!, `${Date.now()} ${line}\n`, null, 'latin1');
    } else if (sink.kind === 'serial') {
      const now = monotonicMs();
      busyUntil = Math.max(busyUntil, now) + (chunk.length * 10 * 1000) / sink.baud;
      if (busyUntil > now) {
        stream.pause();
        setTimeout(() => stream.resume(), busyUntil - now);
      }
    }
  });
  return () => {
    if (fd !== undefined) {
      if (pending) writeSync(fd, `${Date.now()} ${pending}\n`, null, 'latin1');
      closeSync(fd);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
}
