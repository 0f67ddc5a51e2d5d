import type { CpioEntry } from '../cpio/entry.js';
import { CpioParser, type CpioEvents } from '../cpio/parser.js';
import { hex, hexBytes } from '../decode/bytes.js';
import { COMPRESSION_FORMATS, type CompressionFormat, type CoprocessMember, type SegmentFormat, detectCompression } from '../decode/formats.js';
import { ByteSource } from '../decode/source.js';
import type { DecodeOptions, Sink } from '../decode/types.js';
import type { UkiSection } from '../decode/uki.js';
import { FormatError } from '../errors.js';

/**
 * One cpio archive of the image: a run of entries up to its TRAILER!!!. An archive inside a
 * compressed member has that member's start, end and format; a stream may hold several.
 */
export interface Archive {
  /** 1-based, in image order: what --parts selects. */
  index: number;
  start: number;
  end: number;
  format: SegmentFormat;
  entries: number;
  /** Sum of the entries' data sizes. */
  extractedSize: number;
  /** What decoded the member: our decoder (`ours`) or a co-process command; plain cpio: undefined. */
  decodedBy?: string;
}

export interface WalkOptions {
  /**
   * Called once as each archive starts, with its 1-based index: whether its entries reach the
   * consumer (all by default). Every archive is still read.
   */
  select?: (archiveIndex: number) => boolean;
  /** Stop once the compressed members have produced more than this many bytes in all (4 GiB). */
  maxOutput?: number;
  /** Called as the walk moves through the file. */
  progress?: (offset: number, size: number) => void;
  /** Where to begin, as after skipcpio (0). */
  start?: number;
  /**
   * What the member at `start` must be, read by that format's own reader whatever its magic
   * says, whose error ends the walk when it is something else: one stage of dracut's trial
   * chain. The walk goes on after it as the kernel's does.
   */
  first?: SegmentFormat;
  /**
   * Decode every member with our own decoders, in this process. By default a format's CLI runs
   * as a co-process where it is faster and installed (see CompressionFormat.coprocess).
   */
  inProcess?: boolean;
  /**
   * The consumer holds much memory of its own (a model of the tree, diff's hashes, repack's
   * compressor): a format whose CLI is slower than ours but leaner (onlyToSaveMemory: lz4, lzop,
   * zstd, lzma) is decoded by the CLI all the same, a member is read through a window of 256 KiB, not 1 MiB,
   * and gzip decodes into smaller buffers (DecodeOptions.saveMemory): the second MiB of diff's
   * overlap was most of what diff of 100,050 hard links peaked over 64 MB (65.0, 63.7 without
   * it, by hand), and du and cat of 300,150 hard links peaked 1.3 to 1.5 MB lower with the
   * smaller window and buffer (by hand).
   */
  saveMemory?: boolean;
  /**
   * The consumer needs no file data: in uncompressed archives it is seeked past, never read,
   * and `data` is not called for it. A compressed member's data is decoded all the same, and
   * gzip and zstd then in this thread; for a consumer that takes the data, they decode the next
   * chunk on libuv's threadpool while it takes the last (DecodeOptions.overlap).
   */
  skipData?: boolean;
}

export interface WalkResult {
  /** The image's size: for a unified kernel image, that of its initrd sections together. */
  size: number;
  archives: Archive[];
  /** A unified kernel image's initrd sections, in the order read. */
  sections?: readonly UkiSection[];
}

/**
 * What the compressed members of one image may expand to by default: four times the largest
 * initramfs of a distribution kernel with all its firmware, and a bomb stops within seconds.
 */
export const DEFAULT_MAX_OUTPUT = 4 * 2 ** 30;
/** More archives than this is no initramfs but a hostile image: each costs a record. */
export const MAX_ARCHIVES = 100_000;
/** The read size when file data is skipped: most headers and names fit, few files do. */
const SKIP_DATA_WINDOW = 16 << 10;
/**
 * The read size when it is read: an uncompressed archive's file data passes through in reads
 * this big, and its pages stay in the peak RSS; a compressed member has a window of its own.
 */
const DATA_WINDOW = 256 << 10;
/**
 * A compressed member's window where the consumer saves memory (WalkOptions.saveMemory), a
 * quarter of the megabyte it has otherwise: for the walks that save memory (du, cat, diff, repack),
 * whose peak is their own memory beside the decoder's buffers.
 */
const SAVING_MEMBER_WINDOW = 256 << 10;

/**
 * Walks an image as the kernel's unpack_to_rootfs does: zero bytes are skipped one at a time,
 * a '0' at a 4-aligned offset starts cpio, anything else must be a compressed member's magic,
 * and after a compressed member the walk goes on. Entries reach `events` as they are read.
 * A chunk of file data is a view of the walk's memory, valid only during its call (CpioEvents):
 * the walk frees that memory as it returns (ByteSource.release).
 */
export async function walkImage(path: string, events: CpioEvents, options: WalkOptions = {}): Promise<WalkResult> {
  // Without data to read, a small window reads headers and seeks past what lies between.
  const src = ByteSource.open(path, options.skipData ? SKIP_DATA_WINDOW : DATA_WINDOW);
  const decoder = new MemberDecoder(src);
  const budget = { left: options.maxOutput ?? DEFAULT_MAX_OUTPUT, limit: options.maxOutput ?? DEFAULT_MAX_OUTPUT };
  try {
    const tracker = new ArchiveTracker(events, options.select ?? (() => true), (offset) => src.describe(offset));
    src.seek(options.start ?? 0);
    if (options.first === 'cpio') requireCpio(src);
    else if (options.first) await decodeMember(src, COMPRESSION_FORMATS.find((f) => f.name === options.first)!, tracker, decoder, budget, options);
    let top = new CpioParser(tracker, src.offset);
    tracker.member = { format: 'cpio', start: 0, parser: top };
    for (;;) {
      options.progress?.(src.offset, src.size);
      const view = src.peek(1);
      if (view.length === 0) break;
      const used = top.write(view);
      src.skip(used);
      if (used === view.length) {
        // A stream's data is read all the same: what it has buffered is passed at once.
        const n = options.skipData ? Math.min(top.passable, src.seekable ? src.remaining : src.peek().length) : 0;
        if (n > 0) {
          top.pass(n);
          src.skip(n);
        }
        continue;
      }

      tracker.closeArchive();
      const head = src.peek(8);
      const format = detectCompression(head);
      if (!format) throw new FormatError(unknownData(head, src.offset), src.offset);
      await decodeMember(src, format, tracker, decoder, budget, options);
      // The kernel skips zeros after a compressed member byte by byte, with no alignment rule.
      top = new CpioParser(tracker, src.offset);
      tracker.member = { format: 'cpio', start: 0, parser: top };
    }
    top.end();
    tracker.closeArchive();
    return { size: src.size, archives: tracker.archives, ...(src.sections && { sections: src.sections }) };
  } catch (err) {
    throw src.locate(err);
  } finally {
    // Every decoder reads the windows in this thread: none is still reading them now.
    decoder.release();
    src.release();
    src.close();
  }
}

async function decodeMember(
  src: ByteSource,
  format: CompressionFormat,
  tracker: ArchiveTracker,
  decoder: MemberDecoder,
  budget: { left: number; limit: number },
  options: WalkOptions,
): Promise<void> {
  const start = src.offset;
  const where = `the ${format.name} stream at ${src.describe(start)}`;
  const parser = new CpioParser(tracker, 0, where);
  tracker.member = { format: format.name, start, parser };
  const firstArchive = tracker.archives.length;
  const deliver = (chunk: Uint8Array): void => {
    budget.left -= chunk.length;
    if (budget.left < 0) {
      throw new FormatError(`the compressed members decompress to more than the ${budget.limit}-byte limit (--max-size; by default 4 GiB, and no more than the target's free space)`, start);
    }
    const used = parser.write(chunk);
    if (used < chunk.length) {
      throw new FormatError(`junk within the compressed archive: byte 0x${hex(chunk[used], 2)} cannot start a cpio entry`, parser.pos, where);
    }
  };
  // dracut's main archive, its first compressed member, ends the image: its command starts on
  // the rest of the file at once, while the member's framing is read for its end (only the
  // first, so that an image of many members costs one command more, not one each). A trial's
  // stage (`first`) names its format before any magic is read: no command is started on another
  // format's bytes, which the member's framing refuses at once. The walk's own members were
  // chosen by their magic.
  const firstCompressed = tracker.archives.every((archive) => archive.format === 'cpio');
  const startEarly = firstCompressed && (!options.first || detectCompression(src.peek(8)) === format);
  const progress = (offset: number): void => options.progress?.(offset, src.size);
  // A consumer that takes every data byte works long on each chunk; one that skips data does little.
  const { end, decodedBy } = await decoder.decode(start, format, deliver, progress, {
    inProcess: options.inProcess,
    saveMemory: options.saveMemory,
    startEarly,
    overlap: !options.skipData,
  });
  src.seek(end);
  parser.end();
  tracker.closeArchive();
  // A member without any entry still gets its row: nothing in the image goes unseen.
  if (tracker.archives.length === firstArchive) {
    tracker.openArchive();
    tracker.closeArchive();
  }
  for (const archive of tracker.archives.slice(firstArchive)) {
    archive.end = end;
    archive.decodedBy = decodedBy;
  }
}

/** A sink that drops the first `count` bytes it is given and passes on the rest. */
function skipping(count: number, sink: Sink): Sink {
  let left = count;
  return (chunk) => {
    if (left >= chunk.length) {
      left -= chunk.length;
      return;
    }
    const rest = chunk.subarray(left);
    left = 0;
    return sink(rest);
  };
}

/**
 * Decodes the compressed members of one image, in turn, for a consumer that takes each piece of
 * output as it comes (the walk's parser and writer, repack's compressor): by the format's
 * command as a co-process where it is faster and installed, and by our own decoders in this
 * thread otherwise. (A worker thread ran ours once, for the overlap: it measured no faster,
 * the decoder being the slower side, and cost a second V8 instance, 15 to 20 MB.)
 */
export class MemberDecoder {
  /**
   * One window for every member: the walk's may be a small one, for headers only, and a new
   * one per member would leave a megabyte to the collector each time. A stream has only its own.
   */
  private reader: ByteSource | undefined;

  constructor(private readonly src: ByteSource) {}

  /**
   * Decodes the member of `format` at `start` into `sink`; returns the offset just after it and
   * what decoded it, `ours` or the command line. A command is used where it runs (not
   * `inProcess`; for a format whose command only saves memory, where `saveMemory` asks or the
   * member is a large one), the file is read by offset and holds the member in one run (not
   * across a UKI's sections) and its framing is sound; when the command fails, ours starts
   * over, names the byte where the member goes wrong, and its output reaches the sink from
   * where the command's stopped: not for a large member that a command refusing as the kernel
   * does refused, whose error is the command's, at the output byte where it stopped, nor for
   * one whose framing is wrong, whose error is the framing's, after what the command makes of
   * the bytes before it.
   * `startEarly`: the member is taken to end the file, and its command starts before the
   * framing says so.
   */
  async decode(
    start: number,
    format: CompressionFormat,
    sink: Sink,
    progress: (offset: number) => void,
    options: { inProcess?: boolean; startEarly?: boolean } & DecodeOptions = {},
  ): Promise<{ end: number; decodedBy: string }> {
    const { src } = this;
    const { coprocess } = format;
    src.seek(start);
    // A co-process reads the file: a stream has one reader, this process. Where ours decodes
    // in any case (zstd's and lz4's members, mostly), the command is not looked for.
    const large = coprocess?.largeMember !== undefined && !options.inProcess && src.seekable && (await coprocess.largeMember(src));
    const wanted = coprocess && !options.inProcess && src.seekable && (!coprocess.onlyToSaveMemory || options.saveMemory || large);
    const commands = wanted && (await import('../decode/coprocess.js'));
    const usable = commands && commands.canRunCoprocess(coprocess.argv);
    const findsEnd = coprocess?.findsEnd;
    // A command that finds the member's end has no framing walk to overlap.
    const early = usable && options.startEarly && !coprocess.memberArgs && !findsEnd && !src.sections ? commands.startCoprocess(src.fileName, start, undefined, coprocess.argv) : undefined;
    try {
      // Where the framing is wrong, ours reads the member, so that its error is the one it
      // gives in process: the first in the member's order, which may come before the framing's.
      // Not a large member, whose window ours would hold: the framing's error is the answer,
      // after what a command that refuses as the kernel does makes of the bytes before it.
      let framing: FormatError | undefined;
      const member = !usable
        ? undefined
        : await coprocess.member(src).catch((err: unknown): CoprocessMember | undefined => {
            if (!large) return framedBadly(err);
            if (!(err instanceof FormatError) || !coprocess.refusesAsTheKernel || err.offset <= start) throw err;
            framing = err;
            return { end: err.offset };
          });
      const inFile = member && src.fileRange(start, member.end);
      if (framing && !inFile) throw framing;
      if (!usable || !member || !inFile) {
        early?.cancel();
        return { end: await this.ours(start, format, sink, progress, options), decodedBy: 'ours' };
      }
      const argv = [...coprocess.argv, ...(member.args ?? [])];
      const toEnd = !framing && !src.sections && member.end === src.size;
      if (!toEnd) early?.cancel();
      const command = early && toEnd ? early : commands.startCoprocess(src.fileName, inFile.start, toEnd ? undefined : inFile.end, argv, { findsEnd });
      const run = await command.drain(sink, (at) => progress(Math.min(member.end, start + Math.max(0, at - inFile.start))));
      if (framing) throw framing;
      const end = !findsEnd ? member.end : run.inputEnd === undefined ? undefined : start + run.inputEnd - inFile.start;
      // An end the command leaves at the member's start or past what it was given is not taken: ours finds it.
      if (run.failure === undefined && end !== undefined && end > start && end <= member.end) {
        progress(end);
        return { end, decodedBy: argv.join(' ') };
      }
      // Ours would hold a large member's window beside its own memory to name the byte: the
      // command's verdict stands, where its output stops.
      if (large && run.refused && coprocess.refusesAsTheKernel) {
        throw new FormatError(`${run.failure}; its output stops`, run.delivered, `the ${format.name} stream at ${src.describe(start)}`);
      }
      // Should ours read the member after all, its output is the one used.
      return { end: await this.ours(start, format, skipping(run.delivered, sink), progress, options), decodedBy: 'ours' };
    } finally {
      early?.cancel();
    }
  }

  /** Decodes the member of `format` at `start` by our decoder; returns the offset just after it. */
  private async ours(start: number, format: CompressionFormat, sink: Sink, progress: (offset: number) => void, options: DecodeOptions): Promise<number> {
    const reader = (this.reader ??= this.src.seekable ? this.src.withWindow(options.saveMemory ? SAVING_MEMBER_WINDOW : undefined) : this.src);
    reader.seek(start);
    await format.decode(reader, (chunk) => {
      progress(reader.offset);
      return sink(chunk);
    }, { overlap: options.overlap, saveMemory: options.saveMemory });
    return reader.offset;
  }

  /** Frees the members' window as the walk ends (ByteSource.release). */
  release(): void {
    if (this.reader !== this.src) this.reader?.release();
  }
}

/** A FormatError stands for the member's framing: none; any other error is thrown. */
function framedBadly(err: unknown): undefined {
  if (err instanceof FormatError) return undefined;
  throw err;
}

interface Member {
  format: SegmentFormat;
  /** The member's first byte; for plain cpio each archive starts at its first header. */
  start: number;
  parser: CpioParser;
}

/** Splits the entry stream into archives, counts them, and passes on the selected ones. */
class ArchiveTracker implements CpioEvents {
  readonly archives: Archive[] = [];
  member!: Member;
  private current: Archive | undefined;
  private selected = false;

  constructor(
    private readonly events: CpioEvents,
    private readonly select: (index: number) => boolean,
    /** An image offset as messages name it (ByteSource.describe). */
    private readonly describe: (offset: number) => string,
  ) {}

  /** For plain cpio the archive starts at its first header; otherwise at the member. */
  openArchive(headerOffset = this.member.start): Archive {
    const start = this.member.format === 'cpio' ? headerOffset : this.member.start;
    if (this.archives.length >= MAX_ARCHIVES) {
      throw new FormatError(`more than ${MAX_ARCHIVES} cpio archives: refusing what looks like a hostile image`, headerOffset, this.member.format === 'cpio' ? undefined : `the ${this.member.format} stream at ${this.describe(this.member.start)}`);
    }
    const archive: Archive = {
      index: this.archives.length + 1,
      start,
      end: start,
      format: this.member.format,
      entries: 0,
      extractedSize: 0,
    };
    this.archives.push(archive);
    this.current = archive;
    this.selected = this.select(archive.index);
    return archive;
  }

  closeArchive(): void {
    this.current = undefined;
  }

  entry(entry: CpioEntry): void {
    const archive = this.current ?? this.openArchive(entry.offset);
    archive.entries++;
    archive.extractedSize += entry.size;
    if (this.selected) this.events.entry(entry);
  }

  data(chunk: Uint8Array): void {
    if (this.selected) this.events.data(chunk);
  }

  entryEnd(entry: CpioEntry): void {
    if (this.member.format === 'cpio') this.current!.end = this.member.parser.pos;
    if (this.selected) this.events.entryEnd(entry);
  }

  trailer(offset: number, end: number): void {
    const archive = this.current ?? this.openArchive(offset);
    if (this.member.format === 'cpio') archive.end = end;
    this.events.trailer(offset, end);
    this.closeArchive();
  }
}

/** The cpio reader's first step, which would otherwise hand a non-cpio byte back to the walk. */
function requireCpio(src: ByteSource): void {
  const head = src.peek(8);
  if (head.length === 0) throw new FormatError('no cpio archive: the input ends here', src.offset);
  if (head[0] !== 0x30) throw new FormatError(`not a cpio archive (bytes ${hexBytes(head.subarray(0, 8))})`, src.offset);
}

function unknownData(head: Uint8Array, offset: number): string {
  const bytes = hexBytes(head.subarray(0, 8));
  if (head[0] === 0x30 && (offset & 3) !== 0) {
    return `cpio data at an offset that is not a multiple of 4 (bytes ${bytes})`;
  }
  return `neither cpio nor a known compression format (bytes ${bytes})`;
}
