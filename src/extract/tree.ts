import { type CpioEntry, type EntryType, entryType } from '../cpio/entry.js';
import { PATH_MAX } from '../cpio/parser.js';
import type { PathTable } from './path-table.js';
import { ScratchFile } from './scratch-file.js';
import { makeDirectories } from './walk-tree.js';
const {
  chmodSync, closeSync, constants, fchmodSync, fchownSync, ftruncateSync, futimesSync, lchownSync, linkSync,
  lstatSync, lutimesSync, mkdirSync, openSync, rmdirSync, symlinkSync, unlinkSync, utimesSync,
  writeSync,
} = process.getBuiltinModule('node:fs');
const { resolve } = process.getBuiltinModule('node:path');

export type SpecialType = 'char' | 'block' | 'fifo' | 'socket';

/**
 * The tree the writer builds, by paths relative to its root: the target directory on disk
 * (DiskTree), or a model of the one `unpack` would leave (ModelTree, for `cat`). The writer's
 * rules run on either, so they exist once. Failures are thrown as Node's are, with `code` and
 * `syscall`: the writer turns those that concern one entry into a refusal. Each create (mkdir,
 * link, symlink, makeNode, createFile) fails with EEXIST where anything is at `rel`: it
 * follows no symlink and replaces nothing.
 */
export interface Tree {
  /** The type of what is at `rel`, a symlink not followed; undefined when nothing is. */
  kind(rel: Buffer): EntryType | undefined;
  mkdir(rel: Buffer, mode: number): void;
  /** Fails with ENOTEMPTY unless the directory is empty. */
  rmdir(rel: Buffer): void;
  unlink(rel: Buffer): void;
  /** A hard link `rel` to what is at `existing`. */
  link(existing: Buffer, rel: Buffer): void;
  /** The entry's symlink, with its owner (when applied) and mtime. */
  symlink(rel: Buffer, e: CpioEntry): void;
  /** The entry's device node, FIFO or socket, with its owner (when applied), mode and mtime. */
  makeNode(rel: Buffer, e: CpioEntry, type: SpecialType): void;
  /** A new file for the entry's data. */
  createFile(rel: Buffer, e: CpioEntry): OpenFile;
  /** What is at `rel` (a hard link just made), opened for writing the entry's data from its start. */
  openFile(rel: Buffer, e: CpioEntry): OpenFile;
  /**
   * The table the tree numbers its paths in, where it keeps one (a model): the writer numbers
   * the names it keeps there too, each held once.
   */
  readonly names?: PathTable;
  /**
   * A file of the writer's own, where the tree is on disk, for its `what`: open for reading and
   * writing, and already unlinked, so that it is never seen among the entries, nor left behind.
   */
  openScratch?(what: string): ScratchFile;
}

export interface OpenFile {
  truncate(size: number): void;
  /** Writes all of `chunk` after what was written before. */
  write(chunk: Uint8Array): void;
  /** Gives the file the entry's owner (when applied), mode and mtime. */
  finish(e: CpioEntry): void;
  close(): void;
}

/** The writer will not write this entry; the message says why. The rest is still extracted. */
export class Refusal extends Error {}

const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const SCRATCH_FLAGS = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const SLASH = Buffer.from('/');
/**
 * The permission bits a file is made with, of its entry's: no set-id bit and nothing writable
 * by others while its data is written. Where the umask leaves the rest as the entry has it
 * (0644 and 0755 files under umask 022: nearly all), no chmod follows.
 */
const CREATE_BITS = 0o755;
const S_ISGID = 0o2000;

/** The mode a directory entry is made with: as a file's, and ours to write into until finish. */
export function dirCreateMode(mode: number): number {
  return (mode & CREATE_BITS) | 0o700;
}

/** The target directory on disk, made if missing. Nothing here checks names: the writer does. */
export class DiskTree implements Tree {
  readonly root: Buffer;
  private readonly pathBuffers: Buffer[];
  private tmpCounter = 0;
  /** Read once: process.umask() reads it by setting it twice. */
  private readonly umask = process.umask();
  private readonly uid = process.geteuid?.();
  private readonly gid = process.getegid?.();
  /**
   * Whether a directory written into may be set-group-id, so that a new name takes its group,
   * not ours: the root is, or a directory that was there before (kind() looks at each). Those
   * this run makes are set-group-id only below one of those, or at the end (finish).
   */
  private setGroupDirs: boolean;

  /** `owners`: apply the archive's uid/gid. */
  constructor(root: string, readonly owners: boolean) {
    makeDirectories(resolve(root));
    this.root = Buffer.from(resolve(root));
    const prefix = Buffer.concat([this.root, SLASH]);
    this.pathBuffers = [0, 1].map(() => Buffer.concat([prefix], prefix.length + PATH_MAX));
    this.setGroupDirs = (lstatSync(this.root).mode & S_ISGID) !== 0;
  }

  /** Whether a name this run has just made needs chown to get the entry's owner. */
  needsOwner(e: Pick<CpioEntry, 'uid' | 'gid'>): boolean {
    return this.owners && (this.setGroupDirs || e.uid !== this.uid || e.gid !== this.gid);
  }

  /** Whether a file made with CREATE_BITS of `mode` needs chmod to get all of them. */
  needsMode(mode: number): boolean {
    return (mode & 0o7777 & ~(CREATE_BITS & ~this.umask)) !== 0;
  }

  /**
   * Whether a directory made with dirCreateMode(`mode`) needs chmod to get `mode`: one made in
   * a set-group-id directory is set-group-id too.
   */
  needsDirMode(mode: number): boolean {
    return this.setGroupDirs || (mode & 0o7777) !== (dirCreateMode(mode) & ~this.umask);
  }

  /**
   * `rel` below the root, in one of two buffers kept for it (`slot` 1 for link's second path):
   * a path is copied as the call starts, and a buffer made per call was garbage in the pool's
   * slabs that stayed in the peak RSS until a full collection (bench/entries.sh).
   */
  path(rel: Buffer, slot: 0 | 1 = 0): Buffer {
    let buffer = this.pathBuffers[slot];
    const start = this.root.length + 1;
    // Longer than an archive's name can be: a library user's, which the system call refuses.
    if (buffer.length < start + rel.length) buffer = this.pathBuffers[slot] = Buffer.concat([buffer.subarray(0, start)], start + rel.length);
    buffer.set(rel, start);
    return buffer.subarray(0, start + rel.length);
  }

  openScratch(what: string): ScratchFile {
    for (;;) {
      const path = this.path(Buffer.from(`.initramfs-restore-scratch-${process.pid}-${this.tmpCounter++}`));
      let fd;
      try {
        fd = openSync(path, SCRATCH_FLAGS, 0o600);
      } catch (err) {
        // An entry took the name: the next one.
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw err;
      }
      try {
        unlinkSync(path);
      } catch (err) {
        closeSync(fd);
        throw err;
      }
      return new ScratchFile(fd, `the scratch file of ${what} in ${this.root.toString()}`);
    }
  }

  kind(rel: Buffer): EntryType | undefined {
    const st = lstatSync(this.path(rel), { throwIfNoEntry: false });
    if (st?.isDirectory() && st.mode & S_ISGID) this.setGroupDirs = true;
    return st && entryType(st.mode);
  }

  mkdir(rel: Buffer, mode: number): void {
    mkdirSync(this.path(rel), mode);
  }

  rmdir(rel: Buffer): void {
    rmdirSync(this.path(rel));
  }

  unlink(rel: Buffer): void {
    unlinkSync(this.path(rel));
  }

  link(existing: Buffer, rel: Buffer): void {
    linkSync(this.path(existing), this.path(rel, 1));
  }

  symlink(rel: Buffer, e: CpioEntry): void {
    const path = this.path(rel);
    symlinkSync(e.linkTarget!, path);
    if (this.needsOwner(e)) lchownSync(path, e.uid, e.gid);
    lutimesSync(path, e.mtime, e.mtime);
  }

  createFile(rel: Buffer, e: CpioEntry): OpenFile {
    const fd = openSync(this.path(rel), WRITE_FLAGS, e.mode & CREATE_BITS);
    return new DiskFile(fd, this.needsOwner(e), this.needsMode(e.mode));
  }

  /** Another entry's file: its owner and mode are always applied. */
  openFile(rel: Buffer): OpenFile {
    const path = this.path(rel);
    const open = () => new DiskFile(openSync(path, constants.O_WRONLY | constants.O_NOFOLLOW), this.owners, true);
    try {
      return open();
    } catch (err) {
      // An earlier entry of the group gave the file a mode that denies writing, which does not
      // stop root (the kernel); this entry's own mode is applied once its data is written.
      if ((err as NodeJS.ErrnoException).code !== 'EACCES') throw err;
      chmodSync(path, 0o600);
      return open();
    }
  }

  /**
   * Node has no mknod(2). A helper process makes the node under a plain ASCII name in the
   * target (arguments cannot carry arbitrary bytes), then a hard link gives it its real name
   * (a rename would replace what is there): mknod(1) for devices and FIFOs; for a socket, a
   * Node process bound to it that exits without closing, since closing would unlink it. Its
   * failure is the entry's: a refusal.
   */
  makeNode(rel: Buffer, e: CpioEntry, type: SpecialType): void {
    const path = this.path(rel);
    // Where the name is taken, the link would fail: so does this, before a process is started.
    if (lstatSync(path, { throwIfNoEntry: false })) throw Object.assign(new Error(`EEXIST: file already exists, mknod '${path}'`), { code: 'EEXIST', syscall: 'mknod' });
    const tmp = `.initramfs-restore-node-${process.pid}-${this.tmpCounter++}`;
    const root = this.root.toString();
    const { spawnSync } = process.getBuiltinModule('node:child_process');
    const result = type === 'socket'
      ? spawnSync(process.execPath, ['-e', BIND_SOCKET, tmp], { cwd: root, encoding: 'utf8' })
      : spawnSync('mknod', ['-m', (e.mode & 0o7777).toString(8), tmp, type === 'char' ? 'c' : type === 'block' ? 'b' : 'p',
        ...(type === 'fifo' ? [] : [String(e.rdevMajor), String(e.rdevMinor)])], { cwd: root, encoding: 'utf8' });
    if (result.error || result.status !== 0) {
      throw new Refusal(`creating the ${type} failed: ${result.error?.message ?? result.stderr.trim()}`);
    }
    try {
      linkSync(`${root}/${tmp}`, path);
    } finally {
      unlinkSync(`${root}/${tmp}`);
    }
    if (this.owners) lchownSync(path, e.uid, e.gid);
    if (type === 'socket') chmodSync(path, e.mode & 0o7777);
    utimesSync(path, e.mtime, e.mtime);
  }
}

const BIND_SOCKET = "require('node:net').createServer().listen(process.argv[1], () => process.exit(0))";

class DiskFile implements OpenFile {
  /** `chown`, `chmod`: what finish must apply, beyond what the file was made with. */
  constructor(private readonly fd: number, private readonly chown: boolean, private readonly chmod: boolean) {}

  truncate(size: number): void {
    ftruncateSync(this.fd, size);
  }

  write(chunk: Uint8Array): void {
    for (let off = 0; off < chunk.length; ) off += writeSync(this.fd, chunk, off, chunk.length - off);
  }

  finish(e: CpioEntry): void {
    if (this.chown) fchownSync(this.fd, e.uid, e.gid);
    // After chown, which clears set-id bits: a mode with them always needs chmod.
    if (this.chmod) fchmodSync(this.fd, e.mode & 0o7777);
    futimesSync(this.fd, e.mtime, e.mtime);
  }

  close(): void {
    closeSync(this.fd);
  }
}
