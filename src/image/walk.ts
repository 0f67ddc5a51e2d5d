import type { CpioEntry } from '../cpio/entry.js';
import { CpioParser, type CpioEvents } from '../cpio/parser.js';
import { COMPRESSION_FORMATS, type CompressionFormat, type SegmentFormat, detectCompression } from '../decode/formats.js';
import { ByteSource } from '../decode/source.js';
import { FormatError } from '../errors.js';
import { DecoderThread } from './decode-thread.js';

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
}

export interface WalkResult {
  size: number;
  archives: Archive[];
}

/**
 * What the compressed members of one image may expand to by default: four times the largest
 * initramfs of a distribution kernel with all its firmware, and a bomb stops within seconds.
 */
export const DEFAULT_MAX_OUTPUT = 4 * 2 ** 30;
/** More archives than this is no initramfs but a hostile image: each costs a record. */
export const MAX_ARCHIVES = 100_000;

/**
 * Walks an image as the kernel's unpack_to_rootfs does: zero bytes are skipped one at a time,
 * a '0' at a 4-aligned offset starts cpio, anything else must be a compressed member's magic,
 * and after a compressed member the walk goes on. Entries reach `events` as they are read.
 */
export async function walkImage(path: string, events: CpioEvents, options: WalkOptions = {}): Promise<WalkResult> {
  const src = ByteSource.open(path);
  const thread = new DecoderThread(path);
  const budget = { left: options.maxOutput ?? DEFAULT_MAX_OUTPUT, limit: options.maxOutput ?? DEFAULT_MAX_OUTPUT };
  try {
    const tracker = new ArchiveTracker(events, options.select ?? (() => true));
    src.seek(options.start ?? 0);
    if (options.first === 'cpio') requireCpio(src);
    else if (options.first) await decodeMember(src, COMPRESSION_FORMATS.find((f) => f.name === options.first)!, tracker, thread, budget, options);
    let top = new CpioParser(tracker, src.offset);
    tracker.member = { format: 'cpio', start: 0, parser: top };
    for (;;) {
      options.progress?.(src.offset, src.size);
      const view = src.peek(1);
      if (view.length === 0) break;
      const used = top.write(view);
      src.skip(used);
      if (used === view.length) continue;

      tracker.closeArchive();
      const head = src.peek(8);
      const format = detectCompression(head);
      if (!format) throw new FormatError(unknownData(head, src.offset), src.offset);
      await decodeMember(src, format, tracker, thread, budget, options);
      // The kernel skips zeros after a compressed member byte by byte, with no alignment rule.
      top = new CpioParser(tracker, src.offset);
      tracker.member = { format: 'cpio', start: 0, parser: top };
    }
    top.end();
    tracker.closeArchive();
    return { size: src.size, archives: tracker.archives };
  } finally {
    thread.close();
    src.close();
  }
}

async function decodeMember(
  src: ByteSource,
  format: CompressionFormat,
  tracker: ArchiveTracker,
  thread: DecoderThread,
  budget: { left: number; limit: number },
  options: WalkOptions,
): Promise<void> {
  const start = src.offset;
  const where = `the ${format.name} stream at byte ${start}`;
  const parser = new CpioParser(tracker, 0, where);
  tracker.member = { format: format.name, start, parser };
  const firstArchive = tracker.archives.length;
  const end = await thread.decode(start, format.name, (chunk) => {
    budget.left -= chunk.length;
    if (budget.left < 0) {
      throw new FormatError(`the compressed members decompress to more than the ${budget.limit}-byte limit (--max-size; by default 4 GiB, and no more than the target's free space)`, start);
    }
    const used = parser.write(chunk);
    if (used < chunk.length) {
      throw new FormatError(`junk within the compressed archive: byte 0x${chunk[used].toString(16).padStart(2, '0')} cannot start a cpio entry`, parser.pos, where);
    }
  }, (offset) => options.progress?.(offset, src.size));
  src.seek(end);
  parser.end();
  tracker.closeArchive();
  // A member without any entry still gets its row: nothing in the image goes unseen.
  if (tracker.archives.length === firstArchive) {
    tracker.openArchive();
    tracker.closeArchive();
  }
  for (const archive of tracker.archives.slice(firstArchive)) archive.end = end;
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
  ) {}

  /** For plain cpio the archive starts at its first header; otherwise at the member. */
  openArchive(headerOffset = this.member.start): Archive {
    const start = this.member.format === 'cpio' ? headerOffset : this.member.start;
    if (this.archives.length >= MAX_ARCHIVES) {
      throw new FormatError(`more than ${MAX_ARCHIVES} cpio archives: refusing what looks like a hostile image`, headerOffset, this.member.format === 'cpio' ? undefined : `the ${this.member.format} stream at byte ${this.member.start}`);
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
  if (head[0] !== 0x30) throw new FormatError(`not a cpio archive (bytes ${hexBytes(head)})`, src.offset);
}

function unknownData(head: Uint8Array, offset: number): string {
  const hex = hexBytes(head);
  if (head[0] === 0x30 && (offset & 3) !== 0) {
    return `cpio data at an offset that is not a multiple of 4 (bytes ${hex})`;
  }
  return `neither cpio nor a known compression format (bytes ${hex})`;
}

function hexBytes(head: Uint8Array): string {
  return Array.from(head.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
}
