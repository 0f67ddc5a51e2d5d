import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { COMPRESSION_FORMATS, type CompressionName, detectCompression } from '../src/decode/formats.js';
import type { Archive } from '../src/image/walk.js';
import { ROOT, sh } from './support/cli.js';
import { realistic, textData } from './support/data.js';
import { fixtureImages } from './support/fixtures.js';
import { DIR, type FakeEntry, SYMLINK, newcArchive, newcEntry } from './support/newc.js';
import { listPaths } from './support/tree.js';

/*
 * Property-based fuzzing of the cpio reader, every decoder and the segment walker with its
 * extractor: on arbitrary bytes and on mutations of small valid members, each either succeeds
 * or throws a FormatError with a sane offset, never anything else, never hangs, and the
 * extractor writes nothing outside its target.
 *
 * FUZZ_RUNS scales every property's number of runs (the default keeps this file near 30 s);
 * FUZZ_SEED fixes the seed, which is fixed by default and random once FUZZ_RUNS is given. In a
 * FUZZ_RUNS campaign a failing property saves its shrunk input in test/regressions/, which the
 * last test replays on every run.
 */

const FUZZING = process.env.FUZZ_RUNS !== undefined;
const BASE_RUNS = FUZZING ? Number(process.env.FUZZ_RUNS) : 200;
if (!Number.isInteger(BASE_RUNS) || BASE_RUNS < 1) throw new Error(`FUZZ_RUNS must be a positive integer, not ${process.env.FUZZ_RUNS}`);
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : FUZZING ? undefined : 0x1f8b0800;
/** A property's runs as a share of the base: cheap properties run more, walks (a thread each) fewer. */
const runs = (weight: number): number => Math.max(1, Math.round(BASE_RUNS * weight));
/** Each case has its own hang bound, so a campaign needs no overall one. */
const TEST_TIMEOUT = FUZZING ? 24 * 3600_000 : 120_000;
/**
 * Far above what any of these small inputs takes even on a loaded machine: a decoder that loops
 * forever is what trips it.
 */
const HANG_MS = 5_000;
/** What one case may decompress to: small inputs expand to a few MB at most unless something runs away. */
const OUTPUT_CAP = 64 << 20;
/** Members and images up to this size make seeds: mutations then reach headers and data alike. */
const SMALL = 16 << 10;

const REGRESSIONS = `${ROOT}test/regressions`;
const work = mkdtempSync(join(tmpdir(), 'irr-fuzz-'));
const inputPath = join(work, 'input.img');
let boxes = 0;

// ---------------------------------------------------------------------------------------------
// The code under test runs in a worker: a decoder stuck in a synchronous loop never yields, so
// only another thread can notice and stop it. The worker loads dist/ (built by the global setup
// from src/), as a plain worker cannot load TypeScript; its FormatError is the one the code
// under test throws.

interface FormatFailure {
  kind: 'format';
  message: string;
  offset: number;
  where?: string;
}
interface Crash {
  kind: 'crash';
  name: string;
  message: string;
  stack?: string;
}
type Failure = FormatFailure | Crash;

interface ParseEvent {
  event: 'entry' | 'data' | 'end' | 'trailer';
  name?: string;
  mode?: number;
  size?: number;
  offset?: number;
  link?: string;
  length?: number;
  end?: number;
}
type ParseOutcome = { kind: 'ok' } | { kind: 'stopped'; consumed: number; pos: number } | Failure;
interface Parsed {
  events: ParseEvent[];
  outcome: ParseOutcome;
}
/** `capped`: the sink's own error, thrown at OUTPUT_CAP, came back unchanged. */
type DecodeOutcome = { kind: 'ok'; end: number; size: number; digest: string } | { kind: 'capped' } | Failure;
type WalkOutcome = { kind: 'ok'; size: number; archives: Archive[] } | Failure;

type Job =
  | { job: 'parse'; bytes: Uint8Array; chunkSizes: number[]; startPos: number }
  | { job: 'decode'; path: string; format: CompressionName; at: number; bufferSize?: number; overlap?: boolean }
  | { job: 'walk'; path: string; target: string };

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
import(workerData.library).then(({ FormatError, ByteSource, CpioParser, COMPRESSION_FORMATS, SafeExtractor, walkImage }) => {
  const CAPPED = new Error('output cap reached');
  const failure = (err) => err instanceof FormatError
    ? { kind: 'format', message: err.message, offset: err.offset, where: err.where }
    : { kind: 'crash', name: err?.constructor?.name ?? typeof err, message: String(err?.message ?? err), stack: err?.stack };
  const hex = (b) => Buffer.from(b).toString('hex');

  function parse(bytes, chunkSizes, startPos) {
    const events = [];
    const parser = new CpioParser({
      entry: (e) => events.push({ event: 'entry', name: hex(e.name), mode: e.mode, size: e.size, offset: e.offset, link: e.linkTarget && hex(e.linkTarget) }),
      data: (chunk) => {
        const last = events.at(-1);
        if (last.event === 'data') last.length += chunk.length;
        else events.push({ event: 'data', length: chunk.length });
      },
      entryEnd: (e) => events.push({ event: 'end', name: hex(e.name) }),
      trailer: (offset, end) => events.push({ event: 'trailer', offset, end }),
    }, startPos);
    try {
      for (let at = 0, k = 0; at < bytes.length; k++) {
        const chunk = bytes.subarray(at, at + chunkSizes[k % chunkSizes.length]);
        const used = parser.write(chunk);
        at += used;
        if (used < chunk.length) return { events, outcome: { kind: 'stopped', consumed: at, pos: parser.pos } };
      }
      parser.end();
      return { events, outcome: { kind: 'ok' } };
    } catch (err) {
      return { events, outcome: failure(err) };
    }
  }

  async function decode(path, format, at, bufferSize, overlap) {
    const src = ByteSource.open(path, bufferSize);
    const hash = createHash('sha1');
    let size = 0;
    try {
      src.seek(at);
      await COMPRESSION_FORMATS.find((f) => f.name === format).decode(src, (chunk) => {
        size += chunk.length;
        if (size > workerData.outputCap) throw CAPPED;
        hash.update(chunk);
      }, { overlap });
      return { kind: 'ok', end: src.offset, size, digest: hash.digest('hex') };
    } catch (err) {
      return err === CAPPED ? { kind: 'capped' } : failure(err);
    } finally {
      src.close();
    }
  }

  async function walk(path, target) {
    const extractor = new SafeExtractor(target, { owners: false, devices: false });
    try {
      const { size, archives } = await walkImage(path, extractor, { maxOutput: workerData.outputCap });
      extractor.finish();
      return { kind: 'ok', size, archives };
    } catch (err) {
      return failure(err);
    }
  }

  parentPort.on('message', async (r) => {
    const answer = r.job === 'parse' ? { whole: parse(r.bytes, [r.bytes.length], r.startPos), chunked: parse(r.bytes, r.chunkSizes, r.startPos) }
      : r.job === 'decode' ? await decode(r.path, r.format, r.at, r.bufferSize, r.overlap)
      : await walk(r.path, r.target);
    parentPort.postMessage({ id: r.id, answer });
  });
});
`;

interface Pending {
  worker: Worker;
  settle: (answer: unknown) => void;
  fail: (err: Error) => void;
}

/** Runs jobs one at a time in a worker, replacing it when a job hangs or kills it. */
class JobRunner {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  run(job: { job: 'parse' } & Job): Promise<{ whole: Parsed; chunked: Parsed }>;
  run(job: { job: 'decode' } & Job): Promise<DecodeOutcome>;
  run(job: { job: 'walk' } & Job): Promise<WalkOutcome>;
  run(job: Job): Promise<unknown> {
    const worker = (this.worker ??= this.spawn());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.stop();
        reject(new Error(`hang: no answer within ${HANG_MS} ms to ${describeJob(job)}`));
      }, HANG_MS);
      const done = () => {
        clearTimeout(timer);
        this.pending.delete(id);
      };
      this.pending.set(id, {
        worker,
        settle: (answer) => (done(), resolve(answer)),
        fail: (err) => (done(), reject(err)),
      });
      worker.postMessage({ id, ...job });
    });
  }

  stop(): void {
    void this.worker?.terminate();
    this.worker = undefined;
  }

  private spawn(): Worker {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { library: pathToFileURL(`${ROOT}dist/index.js`).href, outputCap: OUTPUT_CAP },
    });
    // Out of memory, or an exception that escaped a job: whatever was running is a crash.
    const abandon = (err: Error): void => {
      if (this.worker === worker) this.worker = undefined;
      for (const p of [...this.pending.values()]) if (p.worker === worker) p.fail(err);
    };
    worker.on('message', ({ id, answer }: { id: number; answer: unknown }) => this.pending.get(id)?.settle(answer));
    worker.on('error', abandon);
    worker.on('exit', (code) => abandon(new Error(`the fuzz worker exited with code ${code}`)));
    return worker;
  }
}

function describeJob(job: Job): string {
  return job.job === 'parse' ? `parsing ${job.bytes.length} bytes` : job.job === 'decode' ? `${job.format} at byte ${job.at}` : 'a walk';
}

const runner = new JobRunner();
afterAll(() => {
  runner.stop();
  makeWritable(work);
  rmSync(work, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Checks, shared by the properties and the regression replay.

function expectNoCrash(outcome: { kind: string }, what: string): void {
  if (outcome.kind === 'crash') {
    const crash = outcome as Crash;
    throw new Error(`${what} threw ${crash.name} instead of a FormatError: ${crash.message}\n${crash.stack ?? ''}`);
  }
}

/** A FormatError must point into the input it blames: the image file, or the stream it names. */
function expectSaneOffset(failure: FormatFailure, first: number, size: number): void {
  expect(Number.isSafeInteger(failure.offset), failure.message).toBe(true);
  expect(failure.offset, failure.message).toBeGreaterThanOrEqual(failure.where ? 0 : first);
  if (!failure.where) expect(failure.offset, failure.message).toBeLessThanOrEqual(size);
}

/** The parser sees the same entries and fails the same way however its input is cut. */
async function checkParse(bytes: Uint8Array, chunkSizes: number[], startPos: number): Promise<void> {
  const { whole, chunked } = await runner.run({ job: 'parse', bytes, chunkSizes, startPos });
  expectNoCrash(whole.outcome, 'CpioParser');
  expectNoCrash(chunked.outcome, `CpioParser in chunks of ${chunkSizes.join(',')}`);
  expect(chunked).toEqual(whole);
  const { events, outcome } = whole;
  if (outcome.kind === 'format') expectSaneOffset(outcome, startPos, startPos + bytes.length);
  if (outcome.kind === 'stopped') {
    expect(outcome.consumed).toBeLessThan(bytes.length);
    expect(outcome.pos).toBe(startPos + outcome.consumed);
  }
  let open: ParseEvent | undefined;
  let data = 0;
  for (const e of events) {
    if (e.event === 'entry') {
      expect(e.offset! % 4, 'a header starts 4-aligned').toBe(0);
      expect(e.offset).toBeGreaterThanOrEqual(startPos);
      open = e;
      data = 0;
    } else if (e.event === 'data') {
      data += e.length!;
    } else if (e.event === 'end') {
      expect(e.name).toBe(open?.name);
      if ((open!.mode! & 0o170000) === 0o100000) expect(data, 'a file gets exactly its size in data').toBe(open!.size);
      else expect(data).toBe(0);
      open = undefined;
    }
  }
}

/**
 * The decoder at `at` succeeds, stops at the output cap, or fails with a FormatError; and it
 * does the same through a tiny read window, where every refill boundary falls elsewhere, and,
 * where its engine can run on libuv's threadpool while the sink works (node:zlib's), so.
 */
async function checkDecode(path: string, size: number, format: CompressionName, at: number, bufferSize: number): Promise<void> {
  const wide = await runner.run({ job: 'decode', path, format, at });
  expectNoCrash(wide, `the ${format} decoder`);
  if (format === 'gzip' || format === 'zstd') {
    expect(await runner.run({ job: 'decode', path, format, at, overlap: true }), `the ${format} decoder overlapped`).toEqual(wide);
  }
  const narrow = await runner.run({ job: 'decode', path, format, at, bufferSize });
  expectNoCrash(narrow, `the ${format} decoder with a ${bufferSize}-byte window`);
  const engineCorruption = `corrupt ${format} data: `;
  if (wide.kind === 'format' && wide.message.startsWith(engineCorruption)) {
    // node:zlib says only which chunk of input it failed in, with the engine's own words, which
    // depend on how much input it had: the offset is the chunk's start, and a narrower window
    // may name a later byte or another symptom of the same corruption.
    expect(narrow).toMatchObject({ kind: 'format', message: expect.stringMatching(new RegExp(`^${engineCorruption}`)) });
    expect((narrow as FormatFailure).offset).toBeGreaterThanOrEqual(wide.offset);
  } else {
    expect(narrow).toEqual(wide);
  }
  if (wide.kind === 'ok') {
    expect(wide.end).toBeGreaterThan(at);
    expect(wide.end).toBeLessThanOrEqual(size);
  }
  if (wide.kind === 'format') expectSaneOffset(wide, at, size);
}

/** Archives may make directories without write or search permission: only then can they go. */
function makeWritable(dir: string | Buffer): void {
  chmodSync(dir, 0o700);
  for (const name of readdirSync(dir, { encoding: 'buffer' })) {
    const full = Buffer.concat([Buffer.from(dir), Buffer.from('/'), name]);
    if (lstatSync(full).isDirectory()) makeWritable(full);
  }
}

const CANARY = 'outside the target\n';

/**
 * Walks the image into a target three levels down a sandbox, next to a canary file that the
 * seeds' symlinks and names aim at: the sandbox outside the target must be left exactly as it
 * was, the canary unlinked-to and unwritten.
 */
async function checkWalk(path: string, size: number): Promise<WalkOutcome> {
  const root = join(work, `box-${boxes++}`);
  const target = join(root, 'a/b/c/target');
  const canary = join(root, 'a/b/c/canary');
  mkdirSync(join(root, 'a/b/c'), { recursive: true });
  writeFileSync(canary, CANARY);
  const outside = () => listPaths(root).filter((p) => !p.startsWith('a/b/c/target'));
  const before = outside();
  try {
    const outcome = await runner.run({ job: 'walk', path, target });
    expectNoCrash(outcome, 'walkImage into a SafeExtractor');
    expect(outside(), 'nothing is written outside the target').toEqual(before);
    expect(readFileSync(canary, 'utf8')).toBe(CANARY);
    expect(lstatSync(canary).nlink, 'no hard link to a file outside the target').toBe(1);
    if (outcome.kind === 'format') expectSaneOffset(outcome, 0, size);
    if (outcome.kind === 'ok') {
      expect(outcome.size).toBe(size);
      outcome.archives.forEach((a, i) => {
        expect(a.index).toBe(i + 1);
        expect(a.start).toBeGreaterThanOrEqual(0);
        expect(a.end).toBeGreaterThanOrEqual(a.start);
        expect(a.end).toBeLessThanOrEqual(size);
      });
    }
    return outcome;
  } finally {
    makeWritable(root);
    rmSync(root, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Seeds: small valid members of every format, from the fixtures and from the real tools with
// the options the fixtures do not use (other checks, levels, block modes, header fields).

type Label = 'gzip' | 'bzip2' | 'lzma' | 'xz' | 'lz4-legacy' | 'lz4-frame' | 'lzop' | 'zstd';
const LABELS: readonly Label[] = ['gzip', 'bzip2', 'lzma', 'xz', 'lz4-legacy', 'lz4-frame', 'lzop', 'zstd'];
const FORMAT_OF: Record<Label, CompressionName> = {
  gzip: 'gzip', bzip2: 'bzip2', lzma: 'lzma', xz: 'xz', 'lz4-legacy': 'lz4', 'lz4-frame': 'lz4', lzop: 'lzop', zstd: 'zstd',
};

interface Seed {
  name: string;
  bytes: Buffer;
}

/** An archive with the shapes the extractor must be careful with, aimed at the canary. */
const SAFETY_ENTRIES: FakeEntry[] = [
  { name: 'd', mode: DIR },
  { name: 'd/f', data: 'file\n' },
  { name: 'up', mode: SYMLINK, data: '..' },
  { name: 'up/canary', data: 'through a directory symlink\n' },
  { name: 'c', mode: SYMLINK, data: '../canary' },
  { name: 'c', data: 'replaces the symlink\n' },
  { name: 'h1', data: 'linked\n', ino: 70, nlink: 2 },
  { name: 'h2', ino: 70, nlink: 2 },
  { name: '/abs/f', data: 'absolute\n' },
  { name: './/a./f', data: 'dots\n' },
  // One flipped bit from ../canary: '/' is 0x2f, '.' is 0x2e.
  { name: '/./canary', data: 'absolute\n' },
  { name: 'ro', mode: 0o040500 },
  { name: 'ro/f', data: 'in a read-only directory\n' },
];
const SAFETY_NEWC = newcArchive(SAFETY_ENTRIES);
const SAFETY_CRC = newcArchive(SAFETY_ENTRIES.map((e) => ({ ...e, magic: '070702' as const })));
/** Text and binary data, so that the compressed seeds hold literals and matches of all lengths. */
const SAMPLE_ARCHIVE = newcArchive([
  { name: 'etc', mode: DIR },
  { name: 'etc/text', data: textData(700, 3) },
  { name: 'bin/blob', data: realistic(900, 5) },
  { name: 'lib', mode: SYMLINK, data: 'usr/lib' },
]);

const TOOL_VARIANTS: [Label, string][] = [
  ['gzip', 'gzip -1 -c'], // with a file name in the header
  ['bzip2', 'bzip2 -1 -c'],
  ['xz', 'xz -c --check=crc64'],
  ['xz', 'xz -c --check=none'],
  ['lzma', 'xz -c --format=lzma --lzma1=preset=0,lc=0,lp=2,pb=0'],
  ['lz4-legacy', 'lz4 -c -l -1'],
  ['lz4-frame', 'lz4 -c -BD -BX --content-size'],
  ['lz4-frame', 'lz4 -c --no-frame-crc'],
  ['lzop', 'lzop -c -1'],
  ['lzop', 'lzop -c --crc32'],
  ['zstd', 'zstd -q -c -19 --check'],
  ['zstd', 'zstd -q -c -1 --no-check'],
];

function compressed(archive: Buffer, command: string, file: string): Buffer {
  const path = join(work, file);
  writeFileSync(path, archive);
  // gzip and lzop record the file's mode and time: fixed, the seeds are the same on every run.
  chmodSync(path, 0o644);
  utimesSync(path, 1_600_000_000, 1_600_000_000);
  return sh(`${command} ${path}`);
}

function loadSeeds(): { members: Record<Label, Seed[]>; images: Seed[] } {
  const members = Object.fromEntries(LABELS.map((l) => [l, [] as Seed[]])) as Record<Label, Seed[]>;
  const images: Seed[] = [];
  const seen = new Set<string>();
  const addMember = (label: Label, name: string, bytes: Buffer): void => {
    const key = createHash('sha1').update(bytes).digest('hex');
    if (seen.has(key)) return;
    seen.add(key);
    members[label].push({ name, bytes });
    // A member the kernel does not know by its first bytes (lzma with other lc/lp/pb) is no image.
    if (detectCompression(bytes)) images.push({ name, bytes });
  };
  for (const { path, manifest } of fixtureImages()) {
    const image = readFileSync(path);
    if (image.length <= SMALL) images.push({ name: manifest.image, bytes: image });
    for (const seg of manifest.segments) {
      if (seg.format === 'cpio' || seg.end - seg.start > SMALL) continue;
      const label = (seg.format === 'lz4' ? `lz4-${seg.variant}` : seg.format) as Label;
      addMember(label, `${manifest.image}@${seg.start}`, image.subarray(seg.start, seg.end));
    }
  }
  TOOL_VARIANTS.forEach(([label, command], i) => addMember(label, command, compressed(SAMPLE_ARCHIVE, command, `sample-${i}.cpio`)));
  images.push(
    { name: 'safety-newc', bytes: SAFETY_NEWC },
    { name: 'safety-crc', bytes: SAFETY_CRC },
    { name: 'safety-gzip', bytes: compressed(SAFETY_NEWC, 'gzip -n -c', 'safety.cpio') },
    { name: 'safety-zstd', bytes: compressed(SAFETY_CRC, 'zstd -q -c', 'safety-crc.cpio') },
  );
  return { members, images };
}

const seeds = loadSeeds();
const memberByName = new Map(LABELS.flatMap((l) => seeds.members[l].map((s) => [s.name, s.bytes] as const)));
const imageByName = new Map(seeds.images.map((s) => [s.name, s.bytes]));

// ---------------------------------------------------------------------------------------------
// Mutations and generated inputs. Seeds are picked by name so that a failure prints short.

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'overwrite'; at: number; bytes: Uint8Array }
  | { kind: 'integer'; at: number; value: number; width: 1 | 2 | 4; bigEndian: boolean }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'duplicate'; from: number; length: number; at: number };

/** Reduced modulo the input's length when applied, so that any value lands somewhere. */
const position = fc.nat({ max: 1 << 16 });
/** Byte strings that change what a cpio name or header means, which random bytes rarely hit. */
const DICTIONARY = ['..', '../', '/', '.', '\0', '070701', '070702', 'TRAILER!!!'].map((w) => Buffer.from(w, 'latin1'));
const spliced = (maxLength: number) => fc.oneof(fc.uint8Array({ minLength: 1, maxLength }), fc.constantFrom(...DICTIONARY));
/** Boundary values for the length, size and count fields of every format. */
const boundaryValue = fc.constantFrom(0, 1, 2, 3, 4, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('overwrite' as const), at: position, bytes: spliced(8) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('integer' as const), at: position, value: boundaryValue, width: fc.constantFrom(1 as const, 2 as const, 4 as const), bigEndian: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: position }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: position, bytes: spliced(16) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), from: position, length: fc.integer({ min: 1, max: 512 }), at: position }) },
);

function mutate(base: Uint8Array, mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(base);
  for (const m of mutations) {
    const at = m.at % (b.length + 1);
    switch (m.kind) {
      case 'flip':
        if (at < b.length) b[at] ^= 1 << m.bit;
        break;
      case 'overwrite':
        b.set(m.bytes.subarray(0, b.length - at), at);
        break;
      case 'integer': {
        for (let k = 0; k < m.width && at + k < b.length; k++) {
          const shift = 8 * (m.bigEndian ? m.width - 1 - k : k);
          b[at + k] = Math.floor(m.value / 2 ** shift) & 0xff;
        }
        break;
      }
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.length)]);
        break;
      case 'duplicate': {
        const from = m.from % (b.length + 1);
        b = Buffer.concat([b.subarray(0, at), b.subarray(from, from + m.length), b.subarray(at)]);
        break;
      }
    }
  }
  return b;
}

const mutations = (minLength: number) => fc.array(mutation, { minLength, maxLength: 4 });

const MAGICS = [
  [0x1f, 0x8b, 0x08], [0x1f, 0x9e, 0x08], [0x42, 0x5a, 0x68, 0x39], [0x5d, 0x00, 0x00], [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
  [0x02, 0x21, 0x4c, 0x18], [0x04, 0x22, 0x4d, 0x18], [0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a], [0x28, 0xb5, 0x2f, 0xfd],
];
/** Names (and symlink targets) with `..`, `.`, empty components, absolute ones, NULs and non-UTF-8 bytes. */
const pathBytes = fc
  .tuple(fc.boolean(), fc.array(fc.constantFrom('a', 'b', '.', '..', '', 'canary', '\0', '\xff'), { minLength: 1, maxLength: 4 }))
  .map(([absolute, parts]) => Buffer.from(`${absolute ? '/' : ''}${parts.join('/')}`, 'latin1'));
const wellFormedEntry = fc
  .record({
    name: pathBytes,
    mode: fc.constantFrom(0o100644, 0o100000, DIR, 0o040000, SYMLINK, 0o010644, 0o020644, 0o060644, 0),
    data: fc.oneof(fc.uint8Array({ maxLength: 24 }).map((d) => Buffer.from(d)), pathBytes),
    ino: fc.nat({ max: 3 }),
    nlink: fc.constantFrom(1, 2),
    magic: fc.constantFrom('070701' as const, '070702' as const),
  })
  .map((e) => newcEntry(e, e.ino));
/** What the kernel's grammar is made of, so that arbitrary input gets past the first byte. */
const token = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 32 }),
  fc.integer({ min: 1, max: 9 }).map((n) => new Uint8Array(n)),
  fc.constantFrom(...MAGICS).map((m) => Uint8Array.from(m)),
  wellFormedEntry,
  fc.constant(newcEntry({ name: 'TRAILER!!!', mode: 0, ino: 0 })),
);
const tokenBytes = fc.array(token, { maxLength: 10 }).map((parts) => Buffer.concat(parts));
/** Well-formed entries first, so that the extractor sees them before any junk stops the walk. */
const generatedImage = fc
  .tuple(fc.array(wellFormedEntry, { minLength: 1, maxLength: 6 }), tokenBytes)
  .map(([entries, rest]) => Buffer.concat([...entries, rest]));

// ---------------------------------------------------------------------------------------------
// Running a property.

const slug = (s: string) => s.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase();

/**
 * fast-check's report names the seed and the shrunk case; in a FUZZ_RUNS campaign the case's
 * input is also saved for the regression replay.
 */
async function assertProperty<T>(name: string, arbitrary: fc.Arbitrary<T>, inputOf: (value: T) => Uint8Array, check: (value: T) => Promise<void>, numRuns: number): Promise<void> {
  const details = await fc.check(fc.asyncProperty(arbitrary, check), { numRuns, seed: SEED });
  if (!details.failed) return;
  let saved = '';
  if (FUZZING && details.counterexample) {
    const input = inputOf(details.counterexample[0]);
    const file = `${REGRESSIONS}/${slug(name)}-${createHash('sha1').update(input).digest('hex').slice(0, 10)}.bin`;
    writeFileSync(file, input);
    saved = `\nThe shrunk input is saved as ${file}.`;
  }
  const cause = details.errorInstance;
  throw new Error(`${fc.defaultReportMessage(details)}${saved}\nIt failed with: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
}

// ---------------------------------------------------------------------------------------------

describe('the seeds are valid, so that mutations reach past the headers', () => {
  it.each(LABELS)('%s members decode to the end of the member', async (label) => {
    expect(seeds.members[label].length).toBeGreaterThanOrEqual(2);
    for (const { name, bytes } of seeds.members[label]) {
      writeFileSync(inputPath, bytes);
      const outcome = await runner.run({ job: 'decode', path: inputPath, format: FORMAT_OF[label], at: 0 });
      expect(outcome, name).toMatchObject({ kind: 'ok', end: bytes.length });
    }
  });

  it('every image seed walks and extracts without error', async () => {
    for (const { name, bytes } of seeds.images) {
      writeFileSync(inputPath, bytes);
      expect(await checkWalk(inputPath, bytes.length), name).toMatchObject({ kind: 'ok' });
    }
  }, TEST_TIMEOUT);
});

describe('CpioParser', () => {
  const chunkSizes = fc.array(fc.integer({ min: 1, max: 130 }), { minLength: 1, maxLength: 5 });
  const startPos = fc.nat({ max: 7 });

  it('reads generated cpio streams the same in any chunks, failing only with a FormatError', async () => {
    const arbitrary = fc.record({ bytes: tokenBytes, chunkSizes, startPos });
    await assertProperty('parse-generated', arbitrary, (v) => v.bytes, (v) => checkParse(v.bytes, v.chunkSizes, v.startPos), runs(3));
  }, TEST_TIMEOUT);

  it('reads mutated archives the same in any chunks, failing only with a FormatError', async () => {
    const archives = new Map([['safety-newc', SAFETY_NEWC], ['safety-crc', SAFETY_CRC], ['sample', SAMPLE_ARCHIVE]]);
    const arbitrary = fc.record({ seed: fc.constantFrom(...archives.keys()), mutations: mutations(1), chunkSizes, startPos });
    const input = (v: { seed: string; mutations: Mutation[] }) => mutate(archives.get(v.seed)!, v.mutations);
    await assertProperty('parse-mutated', arbitrary, input, (v) => checkParse(input(v), v.chunkSizes, v.startPos), runs(3));
  }, TEST_TIMEOUT);
});

describe.each(LABELS)('the %s decoder', (label) => {
  const format = FORMAT_OF[label];
  const names = () => seeds.members[label].map((s) => s.name);
  const bufferSize = fc.integer({ min: 1, max: 64 });

  it('fails on mutated members only with a FormatError, whatever its read window', async () => {
    // The member sits after a few zeros, so that offsets are absolute, not member-relative.
    const arbitrary = fc.record({ seed: fc.constantFrom(...names()), mutations: mutations(1), at: fc.nat({ max: 5 }), bufferSize });
    const input = (v: { seed: string; mutations: Mutation[]; at: number }) =>
      Buffer.concat([Buffer.alloc(v.at), mutate(memberByName.get(v.seed)!, v.mutations)]);
    await assertProperty(`${label}-mutated`, arbitrary, input, async (v) => {
      const bytes = input(v);
      writeFileSync(inputPath, bytes);
      await checkDecode(inputPath, bytes.length, format, v.at, v.bufferSize);
    }, runs(1));
  }, TEST_TIMEOUT);

  it('fails on a valid start and arbitrary bytes only with a FormatError', async () => {
    const arbitrary = fc.record({ seed: fc.constantFrom(...names()), keep: fc.nat({ max: 24 }), tail: fc.uint8Array({ maxLength: 512 }), bufferSize });
    const input = (v: { seed: string; keep: number; tail: Uint8Array }) => Buffer.concat([memberByName.get(v.seed)!.subarray(0, v.keep), v.tail]);
    await assertProperty(`${label}-arbitrary`, arbitrary, input, async (v) => {
      const bytes = input(v);
      writeFileSync(inputPath, bytes);
      await checkDecode(inputPath, bytes.length, format, 0, v.bufferSize);
    }, runs(0.3));
  }, TEST_TIMEOUT);
});

describe('walkImage into a SafeExtractor', () => {
  it('handles generated images, failing only with a FormatError and writing only in the target', async () => {
    await assertProperty('walk-generated', fc.oneof(generatedImage, tokenBytes), (bytes) => bytes, async (bytes) => {
      writeFileSync(inputPath, bytes);
      await checkWalk(inputPath, bytes.length);
    }, runs(1));
  }, TEST_TIMEOUT);

  it('handles concatenated and mutated seeds, failing only with a FormatError and writing only in the target', async () => {
    const piece = fc.record({ seed: fc.constantFrom(...imageByName.keys()), zeros: fc.nat({ max: 8 }) });
    const arbitrary = fc.record({ pieces: fc.array(piece, { minLength: 1, maxLength: 3 }), mutations: mutations(0) });
    const input = (v: { pieces: { seed: string; zeros: number }[]; mutations: Mutation[] }) =>
      mutate(Buffer.concat(v.pieces.flatMap((p) => [imageByName.get(p.seed)!, Buffer.alloc(p.zeros)])), v.mutations);
    await assertProperty('walk-mutated', arbitrary, input, async (v) => {
      const bytes = input(v);
      writeFileSync(inputPath, bytes);
      await checkWalk(inputPath, bytes.length);
    }, runs(0.5));
  }, TEST_TIMEOUT);
});

describe('saved regressions (test/regressions/*.bin)', () => {
  it('pass every check: parser in any chunks, walk into a sandbox, each decoder at each of its magics', async () => {
    const files = readdirSync(REGRESSIONS).filter((f) => f.endsWith('.bin')).sort();
    for (const file of files) {
      const path = `${REGRESSIONS}/${file}`;
      const bytes = readFileSync(path);
      try {
        for (const chunks of [[bytes.length || 1], [1], [13]]) await checkParse(bytes, chunks, 0);
        await checkWalk(path, bytes.length);
        for (const f of new Set(LABELS.map((l) => FORMAT_OF[l]))) {
          for (const at of magicOffsets(bytes, f)) {
            for (const bufferSize of [1, 13]) await checkDecode(path, bytes.length, f, at, bufferSize);
          }
        }
      } catch (err) {
        throw new Error(`${file}: ${(err as Error).message}`, { cause: err });
      }
    }
  }, TEST_TIMEOUT);
});

/** Where a member of `format` could start: offset 0 and every place its two magic bytes occur. */
function magicOffsets(bytes: Buffer, format: CompressionName): number[] {
  const offsets = new Set([0]);
  for (const magic of COMPRESSION_FORMATS.find((f) => f.name === format)!.magics) {
    const m = Buffer.from(magic);
    for (let i = bytes.indexOf(m); i >= 0; i = bytes.indexOf(m, i + 1)) offsets.add(i);
  }
  return [...offsets];
}
