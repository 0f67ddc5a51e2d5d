import type { Readable } from 'node:stream';
import { monotonicMs } from '../clock.js';
import { UsageError } from '../errors.js';
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
      for (const line of lines) writeSync(fd!, Buffer.from(`${Date.now()} ${line}\n`, 'latin1'));
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
      if (pending) writeSync(fd, Buffer.from(`${Date.now()} ${pending}\n`, 'latin1'));
      closeSync(fd);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
}
