import { type CpioEntry, type EntryType, entryType, inHardLinkGroup } from '../cpio/entry.js';
import { HardLinkGroups, type LinkSpill } from './hard-links.js';
import { escapeName } from '../cpio/names.js';
import type { CpioEvents } from '../cpio/parser.js';
import { DirectoryRecords } from './directories.js';
import { normalizeName } from './paths.js';
import { DiskTree, type OpenFile, Refusal, type Tree, dirCreateMode } from './tree.js';
const { chmodSync, chownSync, lstatSync, lutimesSync } = process.getBuiltinModule('node:fs');
const { resolve } = process.getBuiltinModule('node:path');

export interface ExtractOptions {
  /** Apply the archive's uid/gid (default: when running as root). */
  owners?: boolean;
  /** Create device nodes with mknod(1) (default: when running as root). */
  devices?: boolean;
  /** Called when an entry is refused or skipped, as it happens. */
  onNotice?: (notice: Notice) => void;
  /**
   * How many directory paths the writer holds in memory, 2 at least (default 16,384, some 1.5
   * MB, and 4 MiB of path bytes at most); past them the records of directory entries go to a
   * scratch file in the target, unlinked as it is made, that finish() or release() closes.
   */
  directoriesInMemory?: number;
  /**
   * How many hard-link groups the writer holds in memory, 1 at least (default 16,384, some 1.5
   * MB, and 4 MiB of their first names at most); past them the groups go to another such file,
   * a run each time, whose filter every later lookup asks: few make many runs.
   */
  linkGroupsInMemory?: number;
}

export interface Notice {
  kind: 'refused' | 'skipped';
  /** The archive name, escaped (see escapeName). */
  name: string;
  reason: string;
}

export interface ExtractCounts {
  file: number;
  dir: number;
  symlink: number;
  hardlink: number;
  char: number;
  block: number;
  fifo: number;
  socket: number;
}

const NOTICES_KEPT = 1000;
const DIRECTORIES_IN_MEMORY = 16_384;
const LINK_GROUPS_IN_MEMORY = 16_384;
const SLASH = 0x2f;

/**
 * Errors that concern one entry (its name or target), which the kernel would skip: the rest is
 * still extracted. Anything else (ENOSPC, EIO, EACCES on the target...) stops the run.
 */
const ENTRY_ERRORS = new Set(['ENAMETOOLONG', 'ENOENT', 'EINVAL', 'EMLINK', 'ELOOP', 'EEXIST', 'ENOTDIR', 'EISDIR']);

function concernsEntry(err: unknown): boolean {
  return err instanceof Refusal || ENTRY_ERRORS.has((err as NodeJS.ErrnoException).code ?? '');
}

/**
 * The writer's rules, on any Tree: entries are written the way the kernel populates rootfs
 * (later entries replace earlier ones, hard links by (devmajor, devminor, ino) until the next
 * trailer), but never outside the tree: no `..`, no absolute names, never through a symlink,
 * hard links only to files this run wrote. Refused entries are reported and the rest is still
 * extracted.
 */
export class TreeWriter implements CpioEvents {
  readonly counts: ExtractCounts = { file: 0, dir: 0, symlink: 0, hardlink: 0, char: 0, block: 0, fifo: 0, socket: 0 };
  readonly refused: Notice[] = [];
  readonly skipped: Notice[] = [];
  refusedCount = 0;
  skippedCount = 0;
  strippedAbsolute = 0;

  private readonly devices: boolean;
  /** The first name written of each hard-link group, until the trailer. */
  private links: HardLinkGroups;
  /** Where the groups go past memory, on a tree on disk. */
  private readonly linkSpill: LinkSpill | undefined;
  /** Directories known to be real ones, and those whose mode and times are applied at the end. */
  protected readonly dirs: DirectoryRecords;
  /**
   * Whether the directory entries' owner, mode and mtime are recorded, for a writer that applies
   * them at the end (SafeExtractor) or reports them (diff's): the tree alone does not need them,
   * and on a model of 100,100 directories they were some 4 MB read by nothing (du 67.0 MB, now 63.3).
   */
  protected readonly recordsDirectories: boolean = false;
  /** The file the current entry's data goes to. */
  private file: OpenFile | undefined;
  /** The archive name of `file`. */
  private openFileName: Buffer = Buffer.alloc(0);

  constructor(private readonly tree: Tree, private readonly options: ExtractOptions = {}) {
    this.devices = options.devices ?? process.getuid?.() === 0;
    const paths = options.directoriesInMemory ?? DIRECTORIES_IN_MEMORY;
    // 1 would spill at every path: the table holds the root.
    if (!Number.isInteger(paths) || paths < 2) throw new RangeError(`directoriesInMemory must be an integer of 2 or more, not ${paths}`);
    const groups = options.linkGroupsInMemory ?? LINK_GROUPS_IN_MEMORY;
    if (!Number.isInteger(groups) || groups < 1) throw new RangeError(`linkGroupsInMemory must be an integer of 1 or more, not ${groups}`);
    const { openScratch } = tree;
    this.dirs = new DirectoryRecords(openScratch && { paths, open: () => openScratch.call(tree, 'directory records') });
    this.linkSpill = openScratch && { groups, open: () => openScratch.call(tree, 'hard-link groups') };
    this.links = this.newLinkGroups();
  }

  entry(e: CpioEntry): void {
    try {
      this.create(e);
    } catch (err) {
      if (!concernsEntry(err)) throw err;
      const { code, syscall } = err as NodeJS.ErrnoException;
      this.notice('refused', e, err instanceof Refusal ? err.message : `${syscall ?? 'creating it'} failed: ${code}`);
    }
  }

  data(chunk: Uint8Array): void {
    if (!this.file) return;
    try {
      this.file.write(chunk);
    } catch (err) {
      this.file.close();
      this.file = undefined;
      // write(2) names no file: without this, ENOSPC would not say what it was writing.
      const { code, syscall, message } = err as NodeJS.ErrnoException;
      throw Object.assign(new Error(`${message.replace(/, write$/, '')}, writing "${escapeName(this.openFileName)}"`, { cause: err }), { code, syscall });
    }
  }

  entryEnd(e: CpioEntry): void {
    const file = this.file;
    if (!file) return;
    this.file = undefined;
    try {
      file.finish(e);
    } finally {
      file.close();
    }
  }

  trailer(): void {
    this.forgetLinkGroups();
  }

  /**
   * Frees what the writer holds of the tree, its directories' records and hard-link groups, at
   * once: a run that keeps the tree it built (diff's views) would hold them until V8 collects,
   * which a short run may never do. The writer is not used again.
   */
  release(): void {
    this.links.release();
    this.dirs.release();
  }

  /** The groups of an archive that ended, which the kernel frees at its trailer; their scratch file is closed. */
  protected forgetLinkGroups(): void {
    this.links.release();
    this.links = this.newLinkGroups();
  }

  /**
   * On a model the groups number their first names in its table, which holds every name anyway,
   * and spill as on disk: du of 300,150 hard links peaked at 73.4 MB with every group in memory
   * until the trailer, 70.4 spilling with names in a table of their own, 68.9 in the model's; at
   * 100,050 (50,025 groups) du, cat and diff took a tenth to a fifth more time (by hand).
   */
  private newLinkGroups(): HardLinkGroups {
    return new HardLinkGroups(this.tree.names, this.linkSpill);
  }

  private notice(kind: Notice['kind'], e: CpioEntry, reason: string): void {
    const notice = { kind, name: escapeName(e.name), reason };
    const list = kind === 'refused' ? this.refused : this.skipped;
    if (kind === 'refused') this.refusedCount++;
    else this.skippedCount++;
    if (list.length < NOTICES_KEPT) list.push(notice);
    this.options.onNotice?.(notice);
  }

  private create(e: CpioEntry): void {
    const type = entryType(e.mode);
    const name = normalizeName(e.name);
    if (!name.ok) throw new Refusal(name.reason);
    if (name.strippedAbsolute) this.strippedAbsolute++;
    if (name.depth === 0) {
      if (type === 'dir') return;
      throw new Refusal('the name is empty or names the target directory itself');
    }
    if (!type) throw new Refusal(`unknown file type in mode 0${e.mode.toString(8)}`);
    if (type !== 'file' && type !== 'symlink' && e.size > 0) {
      this.notice('skipped', e, `a ${type} with ${e.size} bytes of data, which the kernel skips`);
      return;
    }
    if ((type === 'char' || type === 'block') && !this.devices) {
      this.notice('skipped', e, `${type} device ${e.rdevMajor}:${e.rdevMinor} needs root to create`);
      return;
    }
    const { rel } = name;
    this.ensureParents(rel);
    const linked = inHardLinkGroup(e);
    const linkTo = linked ? this.links.firstName(e) : undefined;
    // Made first, and cleared only where that failed with something at the name, as libarchive
    // does: every create is exclusive and follows nothing, so a new target needs no lstat per
    // entry, nor a record of the names made, which grew with the entries. A failure for the
    // entry's own sake still leaves nothing there, as clearing first did (the kernel's
    // clean_path).
    let made = true;
    try {
      this.write(e, type, rel, linked, linkTo);
    } catch (err) {
      if (!concernsEntry(err) || !this.somethingAt(rel)) throw err;
      made = this.clearFinal(rel, type);
      if (made) this.write(e, type, rel, linked, linkTo);
    }
    if (type === 'dir' && this.recordsDirectories) this.dirs.record(rel, e, made);
    this.counts[type]++;
  }

  private write(e: CpioEntry, type: EntryType, rel: Buffer, linked: boolean, linkTo?: Buffer): void {
    switch (type) {
      case 'dir':
        this.tree.mkdir(rel, dirCreateMode(e.mode));
        break;
      case 'file':
        this.openFileName = e.name;
        if (linkTo) {
          this.linkTo(linkTo, type, rel);
          const file = this.tree.openFile(rel, e);
          try {
            // As the kernel: a later link that carries data replaces the group's content.
            if (e.size > 0) file.truncate(e.size);
          } catch (err) {
            file.close();
            throw err;
          }
          this.file = file;
        } else {
          this.file = this.tree.createFile(rel, e);
        }
        break;
      case 'symlink':
        this.tree.symlink(rel, e);
        break;
      case 'char':
      case 'block':
      case 'fifo':
      case 'socket':
        if (linkTo) this.linkTo(linkTo, type, rel);
        else this.tree.makeNode(rel, e, type);
        break;
    }
    if (linkTo) this.counts.hardlink++;
    else if (linked) this.links.add(e, rel);
  }

  /** Whether anything is at `rel`; false where even the look fails (the create's error is the truer one). */
  private somethingAt(rel: Buffer): boolean {
    try {
      return this.tree.kind(rel) !== undefined;
    } catch {
      return false;
    }
  }

  /**
   * Every parent must be a real directory inside the target; missing ones are made. The parent
   * itself is looked up first: in an archive it is nearly always known, and walking down from
   * the top for every entry would cost the square of the depth.
   */
  private ensureParents(rel: Buffer): void {
    const cut = rel.lastIndexOf(SLASH);
    if (cut < 0) return;
    const parent = rel.subarray(0, cut);
    if (this.dirs.isVerified(parent)) return;
    for (let end = parent.indexOf(SLASH); ; end = parent.indexOf(SLASH, end + 1)) {
      const dir = end < 0 ? parent : parent.subarray(0, end);
      if (!this.dirs.isVerified(dir)) {
        const kind = this.tree.kind(dir);
        if (!kind) this.tree.mkdir(dir, 0o755);
        else if (kind === 'symlink') throw new Refusal(`"${escapeName(dir)}" is a symlink: nothing is written through a symlink`);
        else if (kind !== 'dir') throw new Refusal(`"${escapeName(dir)}" is not a directory`);
        this.dirs.verify(dir);
      }
      if (end < 0) break;
    }
  }

  /**
   * Makes room for the entry: an existing directory stays for a directory entry (returns
   * false), anything else is removed, never followed. A non-empty directory is not replaced.
   */
  private clearFinal(rel: Buffer, type: EntryType): boolean {
    const kind = this.tree.kind(rel);
    if (!kind) return true;
    if (kind === 'dir') {
      if (type === 'dir') return false;
      try {
        this.tree.rmdir(rel);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY') {
          throw new Refusal('it would replace a directory that is not empty');
        }
        throw err;
      }
      // rmdir succeeded, so it was empty: every directory below it was removed here before,
      // and forgotten then. Only its own record is left to forget.
      this.dirs.forget(rel);
    } else {
      this.tree.unlink(rel);
    }
    return true;
  }

  /**
   * As the kernel, a hard link joins whatever is now at its group's first name, which this run
   * wrote (it wrote that name, and only its own entries replace what it wrote), but only when
   * that is of the group's type: a file's data written through a link to a FIFO would block for
   * ever, through a link to a device it would go into the device.
   */
  private linkTo(target: Buffer, type: EntryType, rel: Buffer): void {
    this.ensureParents(target);
    const kind = this.tree.kind(target);
    if (kind !== type) {
      const now = kind === 'char' || kind === 'block' ? `${kind} device` : kind;
      throw new Refusal(`its hard-link target "${escapeName(target)}" is ${now ? `now a ${now}` : 'gone'}, not the ${type} this archive wrote`);
    }
    this.tree.link(target, rel);
  }
}

/** The writer on disk: entries go below `root` by TreeWriter's rules, never outside it. */
export class SafeExtractor extends TreeWriter {
  protected override readonly recordsDirectories = true;
  private readonly disk: DiskTree;

  constructor(root: string, options: ExtractOptions = {}) {
    const disk = new DiskTree(root, options.owners ?? process.getuid?.() === 0);
    super(disk, options);
    this.disk = disk;
  }

  /**
   * Applies directory modes and times last, each before its parent's, as creating children changes them;
   * below `root` when the tree has been moved there from where it was extracted.
   */
  finish(root: string = this.disk.root.toString()): void {
    // A stream may end with no trailer, as the kernel accepts: its groups are done too.
    this.forgetLinkGroups();
    this.dirs.childrenFirst(Buffer.from(`${resolve(root)}/`), (path, meta) => {
      const chown = meta.made ? this.disk.needsOwner(meta) : this.disk.owners;
      const chmod = !meta.made || this.disk.needsDirMode(meta.mode);
      // chown and chmod follow a symlink: they act only on what is still a directory. lutimes
      // follows none: the times need no look first.
      if ((chown || chmod) && !lstatSync(path, { throwIfNoEntry: false })?.isDirectory()) return;
      if (chown) chownSync(path, meta.uid, meta.gid);
      if (chmod) chmodSync(path, meta.mode & 0o7777);
      try {
        lutimesSync(path, meta.mtime, meta.mtime);
      } catch (err) {
        // Gone since, or a name above it is no longer a directory: as lstat's throwIfNoEntry.
        const { code } = err as NodeJS.ErrnoException;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      }
    });
  }
}
