import { dataSum } from './checksum.js';
import { hex } from '../decode/bytes.js';
import { FormatError } from '../errors.js';
import { type CpioEntry, S_IFLNK, S_IFMT, S_IFREG } from './entry.js';
import { escapeName } from './names.js';

export const HEADER_SIZE = 110;
/** The kernel's PATH_MAX: longer names and symlink targets are refused. */
export const PATH_MAX = 4096;
const TRAILER = Buffer.from('TRAILER!!!');
const SLAB = 1024;
/** The 13 fields of a newc header after its magic, 8 hex digits each. */
const HEX_FIELDS = /^.{6}[0-9A-Fa-f]{104}$/s;
const NOT_HEX = /[^0-9A-Fa-f]/;
const FIELD_NAMES = ['ino', 'mode', 'uid', 'gid', 'nlink', 'mtime', 'filesize', 'devmajor', 'devminor', 'rdevmajor', 'rdevminor', 'namesize', 'check'];

/** What a parsed archive tells its consumer, in order. */
export interface CpioEvents {
  /** A header and name (and a symlink's target); a regular file's data follows. */
  entry(entry: CpioEntry): void;
  /** Part of the current regular file's data, only valid during the call. */
  data(chunk: Uint8Array): void;
  /** The current entry is complete (a crc entry's checksum verified). */
  entryEnd(entry: CpioEntry): void;
  /** TRAILER!!! at `offset`, the archive ending at `end`: hard links are forgotten here. */
  trailer(offset: number, end: number): void;
}

const enum State {
  /** Between entries: zeros are skipped, then an entry must start at a 4-aligned offset. */
  Reset,
  Header,
  Name,
  Link,
  Data,
  Skip,
}

/**
 * A push parser for cpio as the kernel reads it: newc/crc entries, each followed by any number
 * of zero bytes, several archives in one stream, no trailer needed at the end. It takes
 * arbitrary chunks. `write` returns how much it consumed: less than given only between
 * entries, at a byte that cannot start one, so that the caller decides whether that is the
 * image's next member or junk.
 */
export class CpioParser {
  /** Offset of the next byte, in the caller's coordinates (file or stream offset). */
  pos: number;
  private chunkStart = 0;
  private state = State.Reset;
  private readonly collect = Buffer.allocUnsafe(HEADER_SIZE + PATH_MAX + 4);
  private slab = Buffer.allocUnsafeSlow(SLAB);
  private slabUsed = 0;
  private collected = 0;
  private need = 0;
  private namesize = 0;
  private entry: CpioEntry | undefined;
  private isTrailer = false;
  private remaining = 0;
  private sum = 0;
  private sawEntry = false;

  constructor(
    private readonly events: CpioEvents,
    startPos = 0,
    /** Where this parser reads, for error messages; undefined for the image file itself. */
    private readonly where?: string,
  ) {
    this.pos = startPos;
  }

  write(chunk: Uint8Array): number {
    this.chunkStart = this.pos;
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.state) {
        case State.Reset: {
          while (i < n && chunk[i] === 0) i++;
          if (i === n) break;
          const aligned = ((this.chunkStart + i) & 3) === 0;
          // As the kernel's do_reset: after an entry, padding must end 4-aligned.
          if (!aligned && this.sawEntry) {
            this.fail(`broken padding: byte 0x${hex(chunk[i], 2)} after a cpio entry is not 4-aligned`, this.chunkStart + i);
          }
          if (chunk[i] !== 0x30 || !aligned) {
            this.pos = this.chunkStart + i;
            return i;
          }
          this.state = State.Header;
          this.collected = 0;
          this.need = HEADER_SIZE;
          break;
        }
        case State.Header:
        case State.Name:
        case State.Link: {
          const take = Math.min(this.need - this.collected, n - i);
          this.collect.set(chunk.subarray(i, i + take), this.collected);
          this.collected += take;
          i += take;
          if (this.collected === this.need) {
            this.pos = this.chunkStart + i;
            if (this.state === State.Header) this.parseHeader();
            else if (this.state === State.Name) this.parseName();
            else this.parseLink();
          }
          break;
        }
        case State.Data: {
          const take = Math.min(this.remaining, n - i);
          const part = chunk.subarray(i, i + take);
          if (this.entry!.magic === '070702') this.sum = dataSum(part, this.sum);
          i += take;
          this.remaining -= take;
          this.events.data(part);
          if (this.remaining === 0) {
            this.pos = this.chunkStart + i;
            this.endData();
          }
          break;
        }
        case State.Skip: {
          const take = Math.min(this.remaining, n - i);
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) {
            this.pos = this.chunkStart + i;
            this.finishEntry();
          }
          break;
        }
      }
    }
    this.pos = this.chunkStart + n;
    return n;
  }

  /**
   * How many of the next bytes are only passed on as data or skipped (a newc file's data,
   * padding, the data of an entry the kernel skips): a reader that needs no data moves past
   * them with `pass` instead of reading them. A crc entry's data is read: its sum is checked.
   */
  get passable(): number {
    if (this.state === State.Skip) return this.remaining;
    if (this.state === State.Data && this.entry!.magic === '070701') return this.remaining;
    return 0;
  }

  /** Moves past `n` of the `passable` bytes without reading them. */
  pass(n: number): void {
    this.pos += n;
    this.remaining -= n;
    if (this.remaining > 0) return;
    if (this.state === State.Data) this.endData();
    else this.finishEntry();
  }

  /** The input is complete: fails if it stopped inside an entry. */
  end(): void {
    if (this.state === State.Reset) return;
    const what = this.entry ? `the entry ${quote(this.entry.name)} (header at ${this.entry.offset})` : 'a cpio header';
    throw new FormatError(`truncated cpio archive: the data ends inside ${what}`, this.pos, this.where);
  }

  private fail(message: string, at: number): never {
    throw new FormatError(message, at, this.where);
  }

  private parseHeader(): void {
    this.sawEntry = true;
    const h = this.collect;
    const at = this.pos - HEADER_SIZE;
    const text = h.toString('latin1', 0, HEADER_SIZE);
    const magic = text.slice(0, 6);
    if (magic !== '070701' && magic !== '070702') {
      if (magic === '070707') this.fail('odc cpio header (070707): an initramfs needs newc (070701)', at);
      this.fail(`no cpio magic: found ${JSON.stringify(magic)}`, at);
    }
    // One native test of all 104 digits, one native parse of each field: a loop over the
    // digits runs on V8's baseline tiers in the CLI (src/tiers.ts). Only a header that fails
    // the test is searched, field by field as they are read, for the digit to name.
    const allHex = HEX_FIELDS.test(text);
    const field = (k: number): number => {
      const digits = text.slice(6 + k * 8, 14 + k * 8);
      if (!allHex) {
        const j = digits.search(NOT_HEX);
        if (j >= 0) this.fail(`bad hex digit 0x${hex(h[6 + k * 8 + j], 2)} in the ${FIELD_NAMES[k]} field of a cpio header`, at + 6 + k * 8 + j);
      }
      return parseInt(digits, 16);
    };
    const namesize = field(11);
    if (namesize < 1 || namesize > PATH_MAX) this.fail(`cpio name size ${namesize} is out of range 1..${PATH_MAX}`, at + 94);
    this.entry = {
      magic,
      ino: field(0),
      mode: field(1),
      uid: field(2),
      gid: field(3),
      nlink: field(4),
      mtime: field(5),
      size: field(6),
      devMajor: field(7),
      devMinor: field(8),
      rdevMajor: field(9),
      rdevMinor: field(10),
      check: field(12),
      name: EMPTY,
      offset: at,
    };
    this.namesize = namesize;
    this.state = State.Name;
    this.collected = 0;
    this.need = align4(HEADER_SIZE + namesize) - HEADER_SIZE;
  }

  /**
   * `bytes` copied into a slab of the parser's own, as Buffer's pool copies them into one of
   * 8 KiB. That one holds some hundreds of names, so it outlives two of the young generation's
   * scavenges while the entries go by, is promoted, and then stays until a full collection, which
   * a run may never make: 4.8 MB of them by the end of an unpack of 300,150 hard links. A slab of
   * 1 KiB is garbage before then; a Buffer of its own for each name took 3 to 5% longer to list
   * 300,000 entries (by hand: bench/alternate.sh against a build that did so, not kept).
   */
  private copied(bytes: Uint8Array): Buffer {
    const n = bytes.length;
    if (this.slabUsed + n > SLAB) {
      if (n > SLAB / 4) {
        const copy = Buffer.allocUnsafeSlow(n);
        copy.set(bytes);
        return copy;
      }
      this.slab = Buffer.allocUnsafeSlow(SLAB);
      this.slabUsed = 0;
    }
    const copy = this.slab.subarray(this.slabUsed, this.slabUsed + n);
    copy.set(bytes);
    this.slabUsed += n;
    return copy;
  }

  private parseName(): void {
    const e = this.entry!;
    const raw = this.collect.subarray(0, this.namesize);
    if (raw[this.namesize - 1] !== 0) this.fail('cpio name is not NUL-terminated', e.offset + HEADER_SIZE);
    e.name = this.copied(raw.subarray(0, raw.indexOf(0)));
    const type = e.mode & S_IFMT;
    // The kernel reads the name of a non-regular entry only when it has no data.
    this.isTrailer = e.name.equals(TRAILER) && (type === S_IFREG || e.size === 0);
    if (this.isTrailer) {
      this.skip(align4(e.size));
    } else if (type === S_IFLNK) {
      if (e.size > PATH_MAX) this.fail(`symlink target of ${e.size} bytes is longer than ${PATH_MAX}`, e.offset + 54);
      this.state = State.Link;
      this.collected = 0;
      this.need = align4(e.size);
      if (this.need === 0) this.parseLink();
    } else if (type === S_IFREG) {
      this.events.entry(e);
      this.sum = 0;
      this.remaining = e.size;
      this.state = State.Data;
      if (e.size === 0) this.endData();
    } else {
      // The kernel skips a directory or special file that has data; the consumer decides.
      this.events.entry(e);
      this.skip(align4(e.size));
    }
  }

  private parseLink(): void {
    const e = this.entry!;
    // The kernel takes the target as a C string: it ends at the first NUL.
    const target = this.collect.subarray(0, e.size);
    const nul = target.indexOf(0);
    e.linkTarget = this.copied(nul < 0 ? target : target.subarray(0, nul));
    this.events.entry(e);
    this.finishEntry();
  }

  private endData(): void {
    const e = this.entry!;
    if (e.magic === '070702' && this.sum !== e.check) {
      this.fail(`bad data checksum for ${quote(e.name)}: the header says 0x${hex(e.check)}, the data sums to 0x${hex(this.sum)}`, e.offset + 102);
    }
    this.skip(align4(e.size) - e.size);
  }

  private skip(n: number): void {
    this.remaining = n;
    this.state = State.Skip;
    if (n === 0) this.finishEntry();
  }

  private finishEntry(): void {
    const e = this.entry!;
    this.state = State.Reset;
    this.entry = undefined;
    if (this.isTrailer) this.events.trailer(e.offset, this.pos);
    else this.events.entryEnd(e);
  }
}

const EMPTY = Buffer.alloc(0);

/** Rounds up to a multiple of 4, exact for sizes up to 2^53 (filesize may be 0xffffffff). */
export function align4(n: number): number {
  return n + ((4 - (n % 4)) % 4);
}

function quote(name: Buffer): string {
  return `"${escapeName(name)}"`;
}
