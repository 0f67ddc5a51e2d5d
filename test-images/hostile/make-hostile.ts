/**
 * Writes the hostile-archive corpus: archives that try to escape the target, lie in their
 * headers, nest deep, repeat without end or expand without bound, each with what a careful
 * extractor must do. Run with Node 24 (types are stripped):
 *
 *   npx node test-images/hostile/make-hostile.ts [OUTDIR]     (default test-images/hostile/build)
 *
 * OUTDIR gets NAME.img for every case and cases.json: [{ name, about, expect }], where expect
 * is { status, refused?, offset? }: the exit status of `unpack`, whether entries are refused,
 * and whether the error names a byte offset. The compressed cases come from real compressors
 * (gzip, zstd, xz, bzip2, lz4, lzop), truncated and bit-flipped here.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DIR, SYMLINK, type FakeEntry, newcArchive, newcEntry } from '../../test/support/newc.ts';

interface Expect {
  /** `either`: a flipped bit that no checksum covers may decode to other bytes without error. */
  status: 0 | 1 | 'either';
  /** Entries are refused (reported, not written). */
  refused?: boolean;
  /** The error names a byte offset: "at byte N". */
  offset?: boolean;
}

interface Case {
  name: string;
  about: string;
  image: Buffer;
  expect: Expect;
}

const FILE = 0o100644;
const out = process.argv[2] ?? join(import.meta.dirname, 'build');
const cases: Case[] = [];
const add = (name: string, about: string, image: Buffer, expect: Expect): void => {
  cases.push({ name, about, image, expect });
};
const archive = (entries: FakeEntry[]): Buffer => newcArchive(entries);
const file = (name: string | Buffer, data = 'owned\n', extra: Partial<FakeEntry> = {}): FakeEntry => ({ name, mode: FILE, data, ...extra });

// Escapes by name.
add('dotdot', "a file named ../escape", archive([file('../escape')]), { status: 1, refused: true });
add('dotdot-inner', 'a/../../escape: .. inside the name', archive([file('a/../../escape')]), { status: 1, refused: true });
add('dotdot-dir', 'a directory named .. and a file below it', archive([{ name: '..', mode: DIR }, file('../escape')]), { status: 1, refused: true });
add('absolute', '/escape-absolute: stored inside the target with the / stripped', archive([file('/escape-absolute')]), { status: 0 });
add('double-slash', '//etc//x and ./y: normalised inside the target', archive([file('//etc//x'), file('./y')]), { status: 0 });
add('dot-entries', '. and ./. as directories, the target itself', archive([{ name: '.', mode: DIR }, { name: './.', mode: 0o040700 }]), { status: 0 });
add('empty-name', 'an entry whose name is empty', archive([file('')]), { status: 1, refused: true });

// Escapes through symlinks the archive made.
add('symlink-dir-abs', 'd -> / then d/escape through it', archive([{ name: 'd', mode: SYMLINK, data: '/' }, file('d/tmp/escape')]), { status: 1, refused: true });
add('symlink-dir-up', 'd -> .. then d/escape through it', archive([{ name: 'd', mode: SYMLINK, data: '..' }, file('d/escape')]), { status: 1, refused: true });
add('symlink-chain', 'a -> b, b -> ../.., then a/escape', archive([
  { name: 'b', mode: SYMLINK, data: '../..' }, { name: 'a', mode: SYMLINK, data: 'b' }, file('a/escape'),
]), { status: 1, refused: true });
add('dir-then-symlink', 'a directory d, then d replaced by d -> .., then d/escape', archive([
  { name: 'd', mode: DIR }, file('d/inside'), { name: 'e', mode: DIR }, { name: 'e', mode: SYMLINK, data: '..' }, file('e/escape'),
]), { status: 1, refused: true });
add('nested-dir-then-symlink', 'a/b made, then a/b replaced by a/b -> ../.., then a/b/escape', archive([
  { name: 'a', mode: DIR }, { name: 'a/b', mode: DIR }, { name: 'a/b', mode: SYMLINK, data: '../..' }, file('a/b/escape'),
]), { status: 1, refused: true });
add('symlink-then-file', 'f -> ../escape, then a regular file f: it replaces the link', archive([
  { name: 'f', mode: SYMLINK, data: '../escape' }, file('f'),
]), { status: 0 });
add('symlink-then-dir', 'd -> .., then a directory d and a file in it', archive([
  { name: 'd', mode: SYMLINK, data: '..' }, { name: 'd', mode: DIR }, file('d/x'),
]), { status: 0 });
add('hardlink-through-symlink', 'd -> .. then a hard link d/escape to a file', archive([
  { name: 'd', mode: SYMLINK, data: '..' },
  file('x', '', { ino: 7, nlink: 2 }), file('d/escape', 'owned\n', { ino: 7, nlink: 2 }),
]), { status: 1, refused: true });
add('hardlink-to-refused', 'a hard link whose first name (../escape) was refused', archive([
  file('../escape', '', { ino: 9, nlink: 2 }), file('y', 'owned\n', { ino: 9, nlink: 2 }),
]), { status: 1, refused: true });
add('hardlink-lying-nlink', 'nlink 1000 on a file that has one name', archive([file('x', 'data', { nlink: 1000 })]), { status: 0 });
add('replace-file-dir-file', 'x a file, then a directory, then a file again', archive([
  file('x'), { name: 'x', mode: DIR }, file('x', 'again'),
]), { status: 0 });
add('device-nodes', 'a char device, a block device and a fifo: made only as root', archive([
  { name: 'null', mode: 0o020666, rdevMajor: 1, rdevMinor: 3 }, { name: 'sda', mode: 0o060660, rdevMajor: 8, rdevMinor: 0 },
  { name: 'fifo', mode: 0o010644 },
]), { status: 0 });
add('non-utf8-names', 'names that are not UTF-8, kept byte for byte', archive([
  file(Buffer.from([0xff, 0xfe, 0x2e, 0x62, 0x69, 0x6e])), file(Buffer.from('caf\xe9', 'latin1')),
]), { status: 0 });

// Lying headers.
add('huge-namesize', 'namesize 0xffffffff', archive([file('x', 'data', { namesize: 0xffffffff })]), { status: 1, offset: true });
add('filesize-past-end', 'filesize says 1 MiB, the file ends first', newcArchive([file('x', 'short', { filesize: 1 << 20 })], false), { status: 1, offset: true });
add('bad-checksum', 'a 070702 entry whose checksum does not add up', archive([file('x', 'data', { magic: '070702', check: 1 })]), { status: 1, offset: true });
add('bad-hex', 'a header field with a non-hex digit', Buffer.concat([Buffer.from(newcEntry(file('x')).toString('latin1').replace(/^(.{14})./s, '$1g'), 'latin1'), newcEntry({ name: 'TRAILER!!!', mode: 0 })]), { status: 1, offset: true });
add('no-trailer', 'an archive that ends after an entry, without a trailer: the kernel keeps it', newcArchive([file('x')], false), { status: 0 });

// Depth and count.
const deep = (levels: number) => Array.from({ length: levels }, () => 'a').join('/');
add('deep-2000', '2,000 nested directories (a name of 3,999 bytes, under PATH_MAX)', archive([
  ...Array.from({ length: 2000 }, (_, i): FakeEntry => ({ name: deep(i + 1), mode: DIR })), file(`${deep(2000)}/f`),
]), { status: 0 });
add('deep-10000', 'a name 10,000 directories deep: past PATH_MAX', archive([file(`${deep(10000)}/f`)]), { status: 1, offset: true });
const million = Buffer.concat([
  ...Array.from({ length: 1_000_000 }, () => newcEntry({ name: 'e', mode: FILE })), newcEntry({ name: 'TRAILER!!!', mode: 0 }),
]);
add('million-entries', 'a million empty entries of one name, in a gzip member', gzipSync(million, { level: 9 }), { status: 0 });

// Compressed members, truncated and bit-flipped, from the real compressors.
const payload = archive(Array.from({ length: 64 }, (_, i) => file(`f${i}`, `${'payload '.repeat(200)}${i}\n`)));
const compressors: [string, string[]][] = [
  ['gzip', ['gzip', '-9c']], ['zstd', ['zstd', '-19', '-c', '-q']], ['xz', ['xz', '--check=crc32', '-c']],
  ['lzma', ['xz', '--format=lzma', '-c']], ['bzip2', ['bzip2', '-c']], ['lz4', ['lz4', '-l', '-c', '-q']],
  ['lzop', ['lzop', '-c']],
];
for (const [format, [command, ...args]] of compressors) {
  const packed = execFileSync(command, args, { input: payload, maxBuffer: 1 << 28 });
  add(`${format}-truncated`, `a ${format} member cut in half`, packed.subarray(0, packed.length >> 1), { status: 1, offset: true });
  add(`${format}-tail-cut`, `a ${format} member missing its last byte`, packed.subarray(0, packed.length - 1), { status: 1, offset: true });
  for (const at of [0.3, 0.6, 0.9]) {
    const flipped = Buffer.from(packed);
    const i = Math.floor(flipped.length * at);
    flipped[i] ^= 0x10;
    add(`${format}-bitflip-${Math.round(at * 100)}`, `a ${format} member with one bit flipped at ${Math.round(at * 100)}%`, flipped, { status: 'either', offset: true });
  }
}

// Bombs: small inputs that expand far beyond any initramfs, as entries of 4 GiB - 1 each.
const BOMB_ENTRY = 0xffffffff;
const bombHeader = (i: number): Buffer => newcEntry({ name: `bomb${i}`, mode: FILE, filesize: BOMB_ENTRY, ino: i + 1 });
add('zstd-bomb', 'a 32 MiB zstd frame of RLE blocks that expands to 1 TiB', zstdBomb(256), { status: 1, offset: true });
// gzip cannot do better than about 1000:1, so its bomb is a 4 GiB entry cut at 1 GiB, streamed through gzip.
const gzipBomb = execFileSync('bash', ['-c', '{ cat; head -c 1G /dev/zero; } | gzip -9c'], { input: bombHeader(0), maxBuffer: 1 << 28 });
add('gzip-bomb', 'a 1 MB gzip member that expands to 1 GiB', gzipBomb, { status: 1, offset: true });
const xzBomb = execFileSync('bash', ['-c', '{ cat; head -c 1G /dev/zero; } | xz -0 -T1 -c'], { input: bombHeader(0), maxBuffer: 1 << 28 });
add('xz-bomb', 'a 150 KiB xz stream that expands to 1 GiB', xzBomb, { status: 1, offset: true });

/**
 * A zstd frame built block by block (RFC 8878): raw blocks carry the cpio headers, RLE blocks of
 * 128 KiB the zeros, 4 bytes each, so 4 GiB costs 128 KiB of input.
 */
function zstdBomb(entries: number): Buffer {
  const parts: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38])]; // no content size, no checksum, 128 KiB window
  const blockHeader = (type: number, size: number, last = false): number[] => {
    const header = (size << 3) | (type << 1) | (last ? 1 : 0);
    return [header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff];
  };
  const raw = (body: Buffer, last = false): void => {
    parts.push(Buffer.from(blockHeader(0, body.length, last)), body);
  };
  const BLOCK = 128 * 1024;
  const rleBlocks = Math.ceil(BOMB_ENTRY / BLOCK);
  let pending = 0;
  for (let i = 0; i < entries; i++) {
    // The previous entry's data ends on a 4-byte boundary only after its padding: 4 GiB - 1 needs 1.
    raw(Buffer.concat([Buffer.alloc(pending), bombHeader(i)]));
    const zeros = Buffer.alloc(rleBlocks * 4);
    for (let k = 0; k < rleBlocks; k++) {
      const size = Math.min(BLOCK, BOMB_ENTRY - k * BLOCK);
      zeros.set(blockHeader(1, size), k * 4);
    }
    parts.push(zeros);
    pending = 1;
  }
  raw(Buffer.concat([Buffer.alloc(pending), newcEntry({ name: 'TRAILER!!!', mode: 0 })]), true);
  return Buffer.concat(parts);
}

mkdirSync(out, { recursive: true });
for (const c of cases) writeFileSync(join(out, `${c.name}.img`), c.image);
writeFileSync(join(out, 'cases.json'), `${JSON.stringify(cases.map(({ name, about, expect }) => ({ name, about, expect })), null, 2)}\n`);
process.stdout.write(`${cases.length} hostile cases in ${out}\n`);
