import type { CpioEvents } from '../cpio/parser.js';
import { COMPRESSION_FORMATS, type SegmentFormat } from '../decode/formats.js';
import { ByteSource } from '../decode/source.js';
import { FormatError } from '../errors.js';
import { type Archive, MemberDecoder, walkImage } from '../image/walk.js';
import { writeAllSync } from '../output.js';
import { type CreateCompression, nextMemberStart, writeImageFile, writeMember } from './write.js';

export interface RepackOptions {
  /** What the rewritten members become: a compression, or none (the decoded bytes, plain). */
  compress: CreateCompression;
  /** The compressor's level (its -N); the tool's default when absent. */
  level?: number;
  /**
   * Which members to rewrite, by the index examine gives the archives: a member is rewritten
   * when any archive it holds is selected. By default every compressed member, and no plain
   * cpio archive.
   */
  select?: (archiveIndex: number) => boolean;
  /** The walk's limit on what the compressed members expand to (see WalkOptions.maxOutput). */
  maxOutput?: number;
  /** Hears the offset reached in `source`, and its size: as it is checked, then as it is rewritten. */
  progress?: (phase: 'check' | 'write', offset: number, size: number) => void;
}

/** One member of the image, where it is now and where it was. */
export interface RepackedMember {
  /** The indexes of the archives it holds, the same in both images. */
  archives: number[];
  start: number;
  end: number;
  size: number;
  format: SegmentFormat;
  /** Decoded and written anew, or copied as it was. */
  rewritten: boolean;
  source: { start: number; end: number; size: number; format: SegmentFormat };
}

export interface RepackResult {
  image: string;
  size: number;
  source: string;
  sourceSize: number;
  compress: CreateCompression;
  level?: number;
  members: RepackedMember[];
}

/** A segment of the kernel's grammar: one plain cpio archive, or one compressed member. */
interface Member {
  archives: Archive[];
  start: number;
  end: number;
  format: SegmentFormat;
}

const IGNORE: CpioEvents = { entry() {}, data() {}, entryEnd() {}, trailer() {} };
const CHUNK = 1 << 20;
const align4 = (n: number) => (n + 3) & ~3;

/**
 * Writes `out`, the image `source` with the same members in the same order: the selected ones
 * rewritten as `compress` (each the whole decoded stream of the old member, the zeros between
 * its archives included), the others copied byte for byte. A member that keeps its offset
 * keeps the zeros before it; one that is rewritten or has moved starts at a multiple of 4,
 * as create writes them. `source` is walked first, so that its errors come before `out` is
 * begun; `out` appears only when complete.
 */
export async function repackImage(source: string, out: string, options: RepackOptions): Promise<RepackResult> {
  // What a walk's decoders hold stays to the end, beside the compressor: lz4 goes to its
  // command in both walks (saveMemory).
  const walked = await walkImage(source, IGNORE, {
    skipData: true,
    saveMemory: true,
    maxOutput: options.maxOutput,
    progress: (offset, size) => options.progress?.('check', offset, size),
  });
  const wrote = (offset: number): void => options.progress?.('write', offset, walked.size);
  const select = options.select ?? ((index: number) => walked.archives[index - 1].format !== 'cpio');
  // The image as the walk read it: a unified kernel image's initrd sections, as one.
  const reader = ByteSource.open(source);
  const decoder = new MemberDecoder(reader);
  try {
    return await writeImageFile(out, async (fd) => {
      const members: RepackedMember[] = [];
      let offset = 0;
      /** Where the previous member ended in `source`. */
      let sourceOffset = 0;
      for (const member of membersOf(walked.archives)) {
        const rewritten = member.archives.some((a) => select(a.index));
        const unmoved = offset === sourceOffset;
        const at = unmoved ? member.start : offset;
        const kept = rewritten || !unmoved ? align4(at) : at;
        // An lz4 member needs a zero word after it: the source's had one, a new one may not.
        const start = members.at(-1)?.format === 'lz4' && kept < offset + 4 ? nextMemberStart(offset, 'lz4') : kept;
        writeZeros(fd, offset, start);
        const bytes = rewritten && member.format !== 'cpio' ? decodedMember(decoder, member, wrote) : byteRange(reader, member.start, member.end, wrote);
        const compression = rewritten ? options.compress : 'none';
        const size = await writeMember(fd, bytes, compression, rewritten ? options.level : undefined);
        members.push({
          archives: member.archives.map((a) => a.index),
          start,
          end: start + size,
          size,
          format: !rewritten ? member.format : compression === 'none' ? 'cpio' : compression,
          rewritten,
          source: { start: member.start, end: member.end, size: member.end - member.start, format: member.format },
        });
        offset = start + size;
        sourceOffset = member.end;
      }
      // Zeros after the last member are kept while they stay where they were.
      if (offset === sourceOffset) {
        writeZeros(fd, offset, walked.size);
        offset = walked.size;
      }
      return { image: out, size: offset, source, sourceSize: walked.size, compress: options.compress, ...(options.level === undefined ? {} : { level: options.level }), members };
    });
  } finally {
    reader.close();
  }
}

/** The walk's archives as the members that hold them: a compressed member's share its start. */
function membersOf(archives: readonly Archive[]): Member[] {
  const members: Member[] = [];
  for (const archive of archives) {
    const last = members.at(-1);
    if (archive.format !== 'cpio' && last?.format === archive.format && last.start === archive.start) last.archives.push(archive);
    else members.push({ archives: [archive], start: archive.start, end: archive.end, format: archive.format });
  }
  return members;
}

/** Bytes [start, end) of the image `src`; `reached` hears the offset each piece ends at. */
async function* byteRange(src: ByteSource, start: number, end: number, reached: (offset: number) => void): AsyncGenerator<Buffer> {
  // One buffer, reused: writeMember has taken a piece (written it, or had its write called back
  // by a compressor's stream or stdin) before it asks for the next. A fresh one per piece is
  // freed only when V8 collects, which it does by what JavaScript allocates, not by buffer
  // bytes: they piled up, 60-100 MB of peak RSS.
  const piece = Buffer.allocUnsafe(Math.min(CHUNK, end - start));
  src.seek(start);
  for (let at = start; at < end; ) {
    const n = Math.min(piece.length, end - at);
    src.readTo(piece.subarray(0, n), 'archive the walk found', { start, size: end - start });
    at += n;
    reached(at);
    yield piece.subarray(0, n);
  }
}

/**
 * The whole decoded stream of the compressed member, as the walk decodes it (MemberDecoder):
 * each chunk is handed on as it is, and the sink waits until the next one is asked for (when
 * writeMember has taken this one), so the decoder runs no further ahead than the compressor
 * (gzip's engine one chunk ahead, `overlap`) and nothing is copied. `reached` hears the
 * compressed offset each chunk comes from.
 */
async function* decodedMember(decoder: MemberDecoder, member: Member, reached: (offset: number) => void): AsyncGenerator<Uint8Array> {
  const format = COMPRESSION_FORMATS.find((f) => f.name === member.format)!;
  /** The decoder's next chunk; undefined once it has returned or thrown. */
  let next = Promise.withResolvers<Uint8Array | undefined>();
  /** Settled when the chunk handed on has been taken. */
  let taken = Promise.withResolvers<void>();
  let stopped = false;
  let offset = member.start;
  const handOn = async (chunk: Uint8Array): Promise<void> => {
    next.resolve(chunk);
    await taken.promise;
    if (stopped) throw new Error('repack stopped reading this member');
  };
  const decoded = decoder
    .decode(member.start, format, handOn, (at) => (offset = at), { saveMemory: true, overlap: true })
    .catch((error: unknown) => ({ error }))
    .finally(() => next.resolve(undefined));
  try {
    for (let chunk = await next.promise; chunk !== undefined; chunk = await next.promise) {
      next = Promise.withResolvers();
      reached(offset);
      yield chunk;
      const go = taken;
      taken = Promise.withResolvers();
      go.resolve();
    }
  } finally {
    // A consumer that stops early (its compressor failed) lets the decoder go, to stop.
    stopped = true;
    taken.resolve();
    await decoded;
  }
  const result = await decoded;
  if ('error' in result) throw result.error;
  if (result.end !== member.end) throw new FormatError(`the ${member.format} member now ends at byte ${result.end}, not ${member.end}: the file changed while read`, member.start);
}

/** Zeros at [from, to) of `fd`, whose offset is at `from`, in pieces of bounded size. */
function writeZeros(fd: number, from: number, to: number): void {
  const zeros = Buffer.alloc(Math.min(CHUNK, Math.max(0, to - from)));
  for (let at = from; at < to; at += zeros.length) writeAllSync(fd, zeros.subarray(0, Math.min(zeros.length, to - at)));
}
