import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cpioExtract, sh } from './support/cli.js';
import { NATIVE_DECOMPRESS, fixtureImages, sampleImage } from './support/fixtures.js';
import { AS_ROOT, HAVE_DRACUT, skipUnlessCI, titled } from './support/needs.js';
import { newcArchive } from './support/newc.js';
import { REAL_EXPECTED, realImage } from './support/real.js';
import { scratch } from './support/scratch.js';
import { HAVE_STUB, buildUki, editedCopy, objcopySection, objdumpSections, sectionHeaderAt } from './support/uki.js';

/**
 * Unified kernel images built here as ukify and the systemd documentation build them: Debian's
 * systemd-stub with .linux, .ucode and .initrd added by objcopy. The oracles: the plain image the
 * sections were cut from (our diff of the two must find nothing, archives included), objdump's
 * reading of the section table, and GNU cpio's extraction of the sections objcopy extracts.
 */
const { fresh } = scratch('irr-uki-');
const WHY_NOT = skipUnlessCI(HAVE_STUB ? undefined : 'no systemd-stub: apt-get install systemd-boot-efi binutils');
const SKIPCPIO = '/usr/lib/dracut/skipcpio';

/** Any small file stands for the kernel: nothing reads .linux. */
function kernel(): string {
  const path = join(fresh('linux'), 'vmlinuz');
  writeFileSync(path, Buffer.alloc(5000, 0xcc));
  return path;
}

/** The UKI with `image` as its .initrd. */
function ukiOf(image: string): string {
  return buildUki(join(fresh('uki'), 'uki.efi'), [['.linux', kernel()], ['.initrd', image]]);
}

/** The UKI with the first uncompressed archive of `image` as .ucode and the rest (what skipcpio gives) as .initrd. */
function splitUkiOf(image: string): { uki: string; ucode: string; initrd: string } {
  const dir = fresh('split');
  const [ucode, initrd] = [join(dir, 'ucode.cpio'), join(dir, 'initrd.img')];
  sh(`${SKIPCPIO} ${image} > ${initrd}`);
  sh(`head -c ${statSync(image).size - statSync(initrd).size} ${image} > ${ucode}`);
  return { uki: buildUki(join(dir, 'uki.efi'), [['.linux', kernel()], ['.ucode', ucode], ['.initrd', initrd]]), ucode, initrd };
}

const examineJson = (path: string) => JSON.parse(cli(['examine', '--json', path]).stdout.toString());

describe.skipIf(WHY_NOT)(titled('a UKI with an image as .initrd', WHY_NOT), () => {
  const fixtures = [sampleImage(), ...fixtureImages()];

  it('covers the fixtures', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(40);
  });

  it.each(fixtures.map((f) => [f.manifest.image, f.path] as const))('%s: lists, examines and unpacks as the image does (diff exit 0)', (_, image) => {
    const uki = ukiOf(image);
    const diff = cli(['diff', uki, image]);
    expect(diff.stderr).toBe('');
    expect(diff.stdout.toString()).toBe('');
    expect(diff.status).toBe(0);
    const [list, plain] = [cli(['list', '-v', uki]), cli(['list', '-v', image])];
    expect(list.status).toBe(0);
    expect(list.stdout.equals(plain.stdout)).toBe(true);
    const report = examineJson(uki);
    // xz reads an lzma member on past its end, into what follows the section: ours decodes it in a UKI.
    const byImage = examineJson(image).archives.map((a: { format: string }) => (a.format === 'lzma' ? { ...a, decodedBy: 'ours' } : a));
    expect(report.archives).toEqual(byImage);
    const initrd = objdumpSections(uki).find((s) => s.name === '.initrd')!;
    expect(report.sections).toEqual([{ name: '.initrd', fileOffset: initrd.fileOffset, size: initrd.size, virtualSize: initrd.size, imageOffset: 0 }]);
    expect(report.size).toBe(statSync(image).size);
  });

  it('shows its sections in text, before the archives', () => {
    const uki = ukiOf(sampleImage().path);
    const initrd = objdumpSections(uki).find((s) => s.name === '.initrd')!;
    const lines = cli(['examine', uki]).stdout.toString().split('\n');
    expect(lines[0]).toBe(`${uki}: unified kernel image, initrd sections:`);
    expect(lines[1].split(/\s{2,}/)).toEqual(['section', 'file offset', 'size', 'virtual size', 'image offset']);
    expect(lines[2].split(/\s+/)).toEqual(['.initrd', String(initrd.fileOffset), String(initrd.size), String(initrd.size), '0']);
    expect(lines[3]).toBe(`${uki}: ${initrd.size} bytes of initrd, 2 archives`);
  });

  it('cat gives a file of the .initrd as of the image', () => {
    const { path } = sampleImage();
    const file = 'kernel/x86/microcode/GenuineIntel.bin';
    const uki = ukiOf(path);
    const [ours, plain] = [cli(['cat', uki, file]), cli(['cat', path, file])];
    expect([ours.status, plain.status]).toEqual([0, 0]);
    expect(ours.stdout.length).toBeGreaterThan(0);
    expect(ours.stdout.equals(plain.stdout)).toBe(true);
  });

  it('decodes a member by its CLI as a co-process (the section is one run of the file) and with our decoder alike', () => {
    const uki = ukiOf(fixtureImages().find((f) => f.manifest.image === 'dracut-xz.img')!.path);
    const [early, main] = examineJson(uki).archives.map((a: { decodedBy?: string }) => a.decodedBy);
    expect(early).toBeUndefined();
    expect(main).toMatch(/^xz -d -c -q -T\d+$/);
    const ours = JSON.parse(cli(['examine', '--json', '--in-process', uki]).stdout.toString());
    expect(ours.archives.map((a: { decodedBy?: string }) => a.decodedBy)).toEqual([undefined, 'ours']);
  });
});

const WHY_NOT_SPLIT = WHY_NOT ?? skipUnlessCI(HAVE_DRACUT ? undefined : 'no dracut skipcpio: apt-get install dracut-core');

describe.skipIf(WHY_NOT_SPLIT)(titled('a UKI with the early archive as .ucode and the rest as .initrd', WHY_NOT_SPLIT), () => {
  const early = fixtureImages().filter((f) => /^dracut-/.test(f.manifest.image));

  it('covers every compression of the dracut fixtures', () => {
    expect(early.length).toBeGreaterThanOrEqual(9);
  });

  it.each(early.map((f) => [f.manifest.image, f.path] as const))('%s: reads .ucode then .initrd as the image (diff exit 0)', (_, image) => {
    const { uki, ucode } = splitUkiOf(image);
    const diff = cli(['diff', uki, image]);
    expect(diff.stdout.toString() + diff.stderr).toBe('');
    expect(diff.status).toBe(0);
    expect(examineJson(uki).sections.map((s: { name: string; imageOffset: number }) => [s.name, s.imageOffset]))
      .toEqual([['.ucode', 0], ['.initrd', statSync(ucode).size]]);
  });

  it('repack gives the initramfs the sections hold: .ucode\'s archive byte for byte, .initrd\'s member repacked, the same tree', () => {
    const { path } = fixtureImages().find((f) => f.manifest.image === 'dracut-zstd.img')!;
    const { uki, ucode } = splitUkiOf(path);
    const out = join(fresh('repacked'), 'out.img');
    const run = cli(['repack', uki, out, '--compress', 'gzip']);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(readFileSync(out).subarray(0, statSync(ucode).size).equals(readFileSync(ucode))).toBe(true);
    expect(examineJson(out).archives.map((a: { format: string }) => a.format)).toEqual(['cpio', 'gzip']);
    expect(cli(['diff', '--stat', out, path]).stdout.toString()).toMatch(/^0 added, 0 removed, 0 changed, 1 archive differs\n$/);
  });

  it('pads .ucode to a multiple of 4 as the stub does, so that .initrd starts aligned', () => {
    const { path } = fixtureImages().find((f) => f.manifest.image === 'dracut-gzip.img')!;
    const { ucode, initrd } = splitUkiOf(path);
    // Three bytes short of the stub's alignment: the kernel's cpio reader would refuse what
    // follows unaligned, and the stub's padding is what puts it back in place.
    const odd = join(fresh('odd'), 'ucode.cpio');
    writeFileSync(odd, Buffer.concat([readFileSync(ucode), Buffer.alloc(1)]));
    const uki = buildUki(join(fresh('uki'), 'uki.efi'), [['.linux', kernel()], ['.ucode', odd], ['.initrd', initrd]]);
    const report = examineJson(uki);
    expect(report.sections[1].imageOffset).toBe(statSync(ucode).size + 4);
    expect(report.archives[1].start).toBe(statSync(ucode).size + 4);
    expect(cli(['diff', '--stat', uki, path]).stdout.toString()).toMatch(/^0 added, 0 removed, 0 changed, 1 archive differs\n$/);
  });
});

describe.skipIf(!REAL_EXPECTED || WHY_NOT_SPLIT)(titled('a UKI of the real fedora-like-zstd image', WHY_NOT_SPLIT), () => {
  const image = realImage('fedora-like-zstd.img');

  it('unpacks as GNU cpio extracts the sections objcopy cuts out, and as the plain image', () => {
    const { uki } = splitUkiOf(image);
    const dir = fresh('sections');
    const ucode = objcopySection(uki, '.ucode', join(dir, 'ucode'));
    const initrd = objcopySection(uki, '.initrd', join(dir, 'initrd'));
    const tree = fresh('gnu');
    const unmade = [
      ...cpioExtract('cpio -idmu --no-absolute-filenames --quiet', { cwd: tree, input: ucode }),
      ...cpioExtract(`${NATIVE_DECOMPRESS.zstd} | cpio -idmu --no-absolute-filenames --quiet`, { cwd: tree, input: initrd }),
    ];
    const run = cli(['diff', uki, tree]);
    expect(run.stderr).toBe('');
    expect(run.stdout.toString().split('\n').filter(Boolean).filter((l) => AS_ROOT || !/: owner /.test(l))).toEqual(unmade.sort().map((n) => `- ${n}`));
    expect(cli(['diff', uki, image]).status).toBe(0);
    const target = join(fresh('unpack'), 'root');
    expect(cli(['unpack', uki, target]).status).toBe(0);
    expect(cli(['diff', target, image]).status).toBe(AS_ROOT ? 0 : 1);
  }, 120_000);
});

describe.skipIf(WHY_NOT)(titled('a broken PE file', WHY_NOT), () => {
  const good = () => ukiOf(sampleImage().path);
  const failsAt = (path: string, message: RegExp, offset: number) => {
    for (const command of [['examine'], ['list'], ['diff', sampleImage().path]]) {
      const args = command[0] === 'diff' ? ['diff', path, command[1]] : [...command, path];
      const run = cli(args);
      expect(run.status, args.join(' ')).toBe(command[0] === 'diff' ? 2 : 1);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).toContain(`${path}: `);
      expect(run.stderr).toContain(`at byte ${offset}`);
      expect(run.stdout.toString()).toBe('');
    }
  };

  it('without .initrd: the bare stub is no UKI with an initrd', () => {
    const stub = editedCopy('/usr/lib/systemd/boot/efi/linuxx64.efi.stub', join(fresh('stub'), 'stub.efi'), () => {});
    const pe = readFileSync(stub);
    const table = sectionHeaderAt(pe, '.text');
    failsAt(stub, /a PE file without an \.initrd section \(sections: \.text .*\): not a unified kernel image/, table);
  });

  it('truncated in its section table', () => {
    const uki = good();
    const at = sectionHeaderAt(readFileSync(uki), '.initrd');
    const cut = editedCopy(uki, join(fresh('cut'), 'cut.efi'), (pe) => pe.subarray(0, at + 20));
    const table = sectionHeaderAt(readFileSync(uki), '.text');
    failsAt(cut, /truncated PE file: the section table of \d+ sections \(\d+ bytes from byte \d+\) goes past the end of the file \(\d+ bytes\)/, table);
  });

  it('truncated in .initrd: the section goes past the end', () => {
    const uki = good();
    const initrd = objdumpSections(uki).find((s) => s.name === '.initrd')!;
    const cut = editedCopy(uki, join(fresh('cut'), 'cut.efi'), (pe) => pe.subarray(0, initrd.fileOffset + 100));
    failsAt(cut, /section \.initrd \(file bytes \d+-\d+\) goes past the end of the file/, sectionHeaderAt(readFileSync(uki), '.initrd'));
  });

  it('a section whose size leaves the file', () => {
    const uki = good();
    const at = sectionHeaderAt(readFileSync(uki), '.linux');
    const bad = editedCopy(uki, join(fresh('big'), 'big.efi'), (pe) => void pe.writeUInt32LE(0x7fffffff, at + 16));
    failsAt(bad, /section \.linux \(file bytes \d+-\d+\) goes past the end of the file/, at);
  });

  it('overlapping sections: .initrd placed over .linux', () => {
    const uki = good();
    const linux = objdumpSections(uki).find((s) => s.name === '.linux')!;
    const at = sectionHeaderAt(readFileSync(uki), '.initrd');
    const bad = editedCopy(uki, join(fresh('overlap'), 'overlap.efi'), (pe) => void pe.writeUInt32LE(linux.fileOffset + 512, at + 20));
    failsAt(bad, /section \.initrd \(file bytes \d+-\d+\) overlaps section \.linux/, at);
  });

  it('an MZ file too short for its DOS header', () => {
    const path = join(fresh('mz'), 'mz.efi');
    writeFileSync(path, Buffer.from('MZ junk'));
    failsAt(path, /truncated PE file: the DOS header \(64 bytes from byte 0\) goes past the end of the file \(7 bytes\)/, 0);
  });

  it('junk inside .initrd: named by its file offset and its place in the section', () => {
    const uki = good();
    const initrd = objdumpSections(uki).find((s) => s.name === '.initrd')!;
    const zstdAt = examineJson(uki).archives[1].start as number;
    const bad = editedCopy(uki, join(fresh('junk'), 'junk.efi'), (pe) => void pe.fill(0x58, initrd.fileOffset + zstdAt, initrd.fileOffset + zstdAt + 4));
    const run = cli(['list', bad]);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`neither cpio nor a known compression format (bytes 58 58 58 58`);
    expect(run.stderr).toContain(`at byte ${initrd.fileOffset + zstdAt} (byte ${zstdAt} of section .initrd)`);
  });

  it('a broken member inside .initrd: its stream named by file offset and section', () => {
    const uki = good();
    const initrd = objdumpSections(uki).find((s) => s.name === '.initrd')!;
    const zstdAt = examineJson(uki).archives[1].start as number;
    // Past the zstd frame header: node:zlib's decoder names no byte, so the member's start.
    const bad = editedCopy(uki, join(fresh('member'), 'member.efi'), (pe) => void pe.fill(0x30, initrd.fileOffset + zstdAt + 20, initrd.fileOffset + zstdAt + 200));
    const run = cli(['list', '--in-process', bad]);
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(`initramfs-restore: ${bad}: corrupt zstd data: Data corruption detected at byte ${initrd.fileOffset + zstdAt} (byte ${zstdAt} of section .initrd)\n`);
  });

  it('junk inside a compressed member of .initrd: the stream named by its file offset and section', () => {
    const dir = fresh('junk-member');
    const member = join(dir, 'initrd.zst');
    const archive = newcArchive([{ name: 'a', data: 'a' }]);
    writeFileSync(member, sh('zstd -q -c', { input: Buffer.concat([archive, Buffer.from('XXXX')]) }));
    const uki = buildUki(join(dir, 'uki.efi'), [['.linux', kernel()], ['.initrd', member]]);
    const initrd = objdumpSections(uki).find((s) => s.name === '.initrd')!;
    const run = cli(['list', uki]);
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(`initramfs-restore: ${uki}: junk within the compressed archive: byte 0x58 cannot start a cpio entry at byte ${archive.length} of the zstd stream at byte ${initrd.fileOffset} (byte 0 of section .initrd)\n`);
  });
});

describe.skipIf(WHY_NOT_SPLIT)(titled('restore of a UKI found where the boot loader spec puts it', WHY_NOT_SPLIT), () => {
  const KV = '6.1.0-uki';
  const image = () => fixtureImages().find((f) => f.manifest.image === 'dracut-zstd.img')!.path;

  /** A root with the UKI of `image` in /boot/efi/EFI/Linux, no plain initrd, and /run/initramfs asking for a restore. */
  function rootWithUki(): { root: string; uki: string; initrd: string } {
    const { uki, initrd } = splitUkiOf(image());
    const root = fresh('root');
    sh(`mkdir -p ${root}/boot/efi/EFI/Linux ${root}/run/initramfs && touch ${root}/run/initramfs/.need_shutdown && cp ${uki} ${root}/boot/efi/EFI/Linux/abc-${KV}.efi`);
    return { root, uki: `${root}/boot/efi/EFI/Linux/abc-${KV}.efi`, initrd };
  }

  it.each([['dracut-059', 'what skipcpio leaves: .initrd'], ['dracut-106', 'what skipcpio leaves: .initrd'], ['dracut-112', 'every archive']] as const)('%s: restores %s, and says it chose the UKI', (flavor, _) => {
    const { root, uki, initrd } = rootWithUki();
    const run = cli(['restore', '--root', root, '--kver', KV, '--flavor', flavor]);
    expect(run.stderr).toBe(`initramfs-restore: restoring ${uki} (chosen by /boot/efi/EFI/Linux/*${KV}*.efi, a unified kernel image: no plain initrd found) into ${root}/run/initramfs\n`);
    expect(run.status).toBe(0);
    // The same user's unpack of the same archives: owners and devices come out alike.
    const expected = join(fresh('expected'), 'tree');
    expect(cli(['unpack', flavor === 'dracut-112' ? image() : initrd, expected]).status).toBe(0);
    const diff = cli(['diff', `${root}/run/initramfs`, expected]);
    expect(diff.stdout.toString()).toBe('');
    expect(diff.status).toBe(0);
  });

  it('a trial order restores by the builtin engine; the native one, which pipes the file to dracut, refuses it (exit 2)', () => {
    const { root, uki } = rootWithUki();
    const builtin = cli(['restore', '--root', root, '--kver', KV, '--flavor', 'dracut-106', '--order', 'dracut-057']);
    expect(builtin.stdout.toString()).toBe(`restored: ${uki} restored into ${root}/run/initramfs by the zstd stage\n`);
    expect(builtin.status).toBe(0);
    const again = rootWithUki();
    const native = cli(['restore', '--root', again.root, '--kver', KV, '--flavor', 'dracut-106', '--order', 'dracut-057', '--engine', 'native']);
    expect(native.status).toBe(2);
    expect(native.stderr).toContain(`${again.uki} is a unified kernel image: the native engine runs dracut's pipelines on the file, where they find no initrd; the builtin engine reads its sections`);
  });

  it('059: an .initrd of one uncompressed archive, which skipcpio leaves nothing of, is restored whole (dracut-ng #2255)', () => {
    const lone = fixtureImages().find((f) => f.manifest.image === 'plain-newc.img')!.path;
    const root = fresh('root');
    const uki = `${root}/boot/EFI/Linux/abc-${KV}.efi`;
    sh(`mkdir -p ${root}/boot/EFI/Linux ${root}/run/initramfs && touch ${root}/run/initramfs/.need_shutdown`);
    buildUki(uki, [['.linux', kernel()], ['.initrd', lone]]);
    expect(cli(['restore', '--root', root, '--kver', KV, '--flavor', 'dracut-059']).status).toBe(0);
    const expected = join(fresh('expected'), 'tree');
    expect(cli(['unpack', lone, expected]).status).toBe(0);
    expect(cli(['diff', `${root}/run/initramfs`, expected]).status).toBe(0);
  });

  it('a plain initrd for the version wins over the UKI', () => {
    const { root } = rootWithUki();
    sh(`cp ${image()} ${root}/boot/initrd.img-${KV}`);
    const run = cli(['restore', '--root', root, '--kver', KV, '--flavor', 'dracut-059']);
    expect(run.stderr).toBe(`initramfs-restore: restoring ${root}/boot/initrd.img-${KV} (chosen by /boot/initrd.img-${KV}, as dracut-059 does) into ${root}/run/initramfs\n`);
  });
});
