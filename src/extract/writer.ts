import { spawnSync } from 'node:child_process';
import {
  closeSync, constants, fchmodSync, ftruncateSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync,
  mkdirSync, openSync, renameSync, rmdirSync, symlinkSync, unlinkSync, utimesSync, chmodSync, chownSync, writeSync,
} from 'node:fs';
import { resolve } from 'node:path';
import { type CpioEntry, type EntryType, entryType, hardLinkKey } from '../cpio/entry.js';
import { escapeName } from '../cpio/names.js';
import type { CpioEvents } from '../cpio/parser.js';
import { joinParts, normalizeName } from './paths.js';

export interface ExtractOptions {
  /** Apply the archive's uid/gid (default: when running as root). */
  owners?: boolean;
  /** Create device nodes with mknod(1) (default: when running as root). */
  devices?: boolean;
  /** Called when an entry is refused or skipped, as it happens. */
  onNotice?: (notice: Notice) => void;
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
const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

class Refusal extends Error {}

/**
 * Errors that concern one entry (its name or target), which the kernel would skip: the rest is
 * still extracted. Anything else (ENOSPC, EIO, EACCES on the target...) stops the run.
 */
const ENTRY_ERRORS = new Set(['ENAMETOOLONG', 'ENOENT', 'EINVAL', 'EMLINK', 'ELOOP', 'EEXIST', 'ENOTDIR', 'EISDIR']);

interface DirMeta {
  rel: Buffer;
  depth: number;
  entry: CpioEntry;
}

/**
 * Writes entries below `root` the way the kernel populates rootfs (later entries replace
 * earlier ones, hard links by (devmajor, devminor, ino) until the next trailer), but never
 * outside `root`: no `..`, no absolute names, never through a symlink, hard links only to
 * files this run wrote. Refused entries are reported and the rest is still extracted.
 */
export class SafeExtractor implements CpioEvents {
  readonly counts: ExtractCounts = { file: 0, dir: 0, symlink: 0, hardlink: 0, char: 0, block: 0, fifo: 0, socket: 0 };
  readonly refused: Notice[] = [];
  readonly skipped: Notice[] = [];
  refusedCount = 0;
  skippedCount = 0;
  strippedAbsolute = 0;

  private readonly root: Buffer;
  private readonly owners: boolean;
  private readonly devices: boolean;
  /** Relative paths (latin1 keys) known to be real directories this run made or checked. */
  private readonly verifiedDirs = new Set<string>();
  /** Hard-link key to the relative path of the first name written for it. */
  private readonly links = new Map<string, Buffer[]>();
  /** Directories whose mode and times are applied at the end, by relative path. */
  private readonly dirs = new Map<string, DirMeta>();
  private fd = -1;
  /** The archive name of the file `fd` is open on. */
  private openFileName: Buffer = Buffer.alloc(0);
  private tmpCounter = 0;

  constructor(root: string, private readonly options: ExtractOptions = {}) {
    this.root = Buffer.from(resolve(root));
    const isRoot = process.getuid?.() === 0;
    this.owners = options.owners ?? isRoot;
    this.devices = options.devices ?? isRoot;
    mkdirSync(this.root, { recursive: true });
  }

  entry(e: CpioEntry): void {
    try {
      this.create(e);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (err instanceof Refusal) this.notice('refused', e, err.message);
      else if (code && ENTRY_ERRORS.has(code)) this.notice('refused', e, `${(err as NodeJS.ErrnoException).syscall ?? 'creating it'} failed: ${code}`);
      else throw err;
    }
  }

  data(chunk: Uint8Array): void {
    if (this.fd < 0) return;
    try {
      for (let off = 0; off < chunk.length; ) off += writeSync(this.fd, chunk, off, chunk.length - off);
    } catch (err) {
      closeSync(this.fd);
      this.fd = -1;
      // write(2) names no file: without this, ENOSPC would not say what it was writing.
      const { code, syscall, message } = err as NodeJS.ErrnoException;
      throw Object.assign(new Error(`${message.replace(/, write$/, '')}, writing "${escapeName(this.openFileName)}"`, { cause: err }), { code, syscall });
    }
  }

  entryEnd(e: CpioEntry): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    try {
      if (this.owners) fchownSync(fd, e.uid, e.gid);
      // After chown, which clears set-id bits.
      fchmodSync(fd, e.mode & 0o7777);
      futimesSync(fd, e.mtime, e.mtime);
    } finally {
      closeSync(fd);
    }
  }

  trailer(): void {
    this.links.clear();
  }

  /**
   * Applies directory modes and times last, deepest first, as creating children changes them;
   * below `root` when the tree has been moved there from where it was extracted.
   */
  finish(root: string = this.root.toString()): void {
    const base = Buffer.from(resolve(root));
    const dirs = [...this.dirs.values()].sort((a, b) => b.depth - a.depth);
    this.dirs.clear();
    for (const { rel, entry } of dirs) {
      const path = Buffer.concat([base, Buffer.from('/'), rel]);
      // Only directories this run still has: a replaced one is no longer in the map.
      if (!lstatSync(path, { throwIfNoEntry: false })?.isDirectory()) continue;
      if (this.owners) chownSync(path, entry.uid, entry.gid);
      chmodSync(path, entry.mode & 0o7777);
      utimesSync(path, entry.mtime, entry.mtime);
    }
  }

  private notice(kind: Notice['kind'], e: CpioEntry, reason: string): void {
    const notice = { kind, name: escapeName(e.name), reason };
    const list = kind === 'refused' ? this.refused : this.skipped;
    if (kind === 'refused') this.refusedCount++;
    else this.skippedCount++;
    if (list.length < NOTICES_KEPT) list.push(notice);
    this.options.onNotice?.(notice);
  }

  private full(rel: Buffer): Buffer {
    return Buffer.concat([this.root, Buffer.from('/'), rel]);
  }

  private create(e: CpioEntry): void {
    const type = entryType(e.mode);
    const name = normalizeName(e.name);
    if (!name.ok) throw new Refusal(name.reason);
    if (name.strippedAbsolute) this.strippedAbsolute++;
    if (name.parts.length === 0) {
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
    this.ensureParents(name.parts, name.parts.length - 1);
    const rel = joinParts(name.parts);
    const path = this.full(rel);
    const linkKey = hardLinkKey(e);
    const linkTo = linkKey === undefined ? undefined : this.links.get(linkKey);
    if (this.clearFinal(path, rel, type)) {
      this.write(e, type, path, name.parts, linkKey, linkTo);
    }
    if (type === 'dir') {
      this.verifiedDirs.add(rel.toString('latin1'));
      this.dirs.set(rel.toString('latin1'), { rel, depth: name.parts.length, entry: e });
    }
    this.counts[type]++;
  }

  private write(e: CpioEntry, type: EntryType, path: Buffer, parts: Buffer[], linkKey?: string, linkTo?: Buffer[]): void {
    switch (type) {
      case 'dir':
        mkdirSync(path, 0o700);
        break;
      case 'file':
        this.openFileName = e.name;
        if (linkTo) {
          this.linkTo(linkTo, path);
          this.fd = openSync(path, constants.O_WRONLY | constants.O_NOFOLLOW);
          // As the kernel: a later link that carries data replaces the group's content.
          if (e.size > 0) ftruncateSync(this.fd, e.size);
        } else {
          this.fd = openSync(path, WRITE_FLAGS, 0o600);
        }
        break;
      case 'symlink':
        symlinkSync(e.linkTarget!, path);
        if (this.owners) lchownSync(path, e.uid, e.gid);
        lutimesSync(path, e.mtime, e.mtime);
        break;
      case 'char':
      case 'block':
      case 'fifo':
      case 'socket':
        if (linkTo) this.linkTo(linkTo, path);
        else this.makeNode(e, type, path);
        break;
    }
    if (linkTo) this.counts.hardlink++;
    else if (linkKey !== undefined) this.links.set(linkKey, parts);
  }

  /**
   * Every parent must be a real directory inside the target; missing ones are made. The parent
   * itself is looked up first: in an archive it is nearly always known, and walking down from
   * the top for every entry would cost the square of the depth.
   */
  private ensureParents(parts: readonly Buffer[], count: number): void {
    if (count === 0) return;
    const parent = joinParts(parts, count);
    if (this.verifiedDirs.has(parent.toString('latin1'))) return;
    let end = 0;
    for (let k = 1; k <= count; k++) {
      end += (k > 1 ? 1 : 0) + parts[k - 1].length;
      const rel = parent.subarray(0, end);
      const key = rel.toString('latin1');
      if (this.verifiedDirs.has(key)) continue;
      const path = this.full(rel);
      const st = lstatSync(path, { throwIfNoEntry: false });
      if (!st) mkdirSync(path, 0o755);
      else if (st.isSymbolicLink()) throw new Refusal(`"${escapeName(rel)}" is a symlink: nothing is written through a symlink`);
      else if (!st.isDirectory()) throw new Refusal(`"${escapeName(rel)}" is not a directory`);
      this.verifiedDirs.add(key);
    }
  }

  /**
   * Makes room for the entry: an existing directory stays for a directory entry (returns
   * false), anything else is removed, never followed. A non-empty directory is not replaced.
   */
  private clearFinal(path: Buffer, rel: Buffer, type: EntryType): boolean {
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st) return true;
    if (st.isDirectory()) {
      if (type === 'dir') return false;
      try {
        rmdirSync(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY') {
          throw new Refusal('it would replace a directory that is not empty');
        }
        throw err;
      }
      // rmdir succeeded, so it was empty: every directory below it was removed here before,
      // and forgotten then. Only its own key is left to forget.
      const key = rel.toString('latin1');
      this.verifiedDirs.delete(key);
      this.dirs.delete(key);
    } else {
      unlinkSync(path);
    }
    return true;
  }

  private linkTo(target: Buffer[], path: Buffer): void {
    this.ensureParents(target, target.length - 1);
    const targetPath = this.full(joinParts(target));
    const st = lstatSync(targetPath, { throwIfNoEntry: false });
    if (!st || st.isDirectory() || st.isSymbolicLink()) {
      throw new Refusal(`its hard-link target "${escapeName(joinParts(target))}" is no longer the file this archive wrote`);
    }
    linkSync(targetPath, path);
  }

  /**
   * Node has no mknod(2). A helper process makes the node under a plain ASCII name in the
   * target (arguments cannot carry arbitrary bytes), then a rename gives it its real name:
   * mknod(1) for devices and FIFOs; for a socket, a Node process bound to it that exits
   * without closing, since closing would unlink it.
   */
  private makeNode(e: CpioEntry, type: 'char' | 'block' | 'fifo' | 'socket', path: Buffer): void {
    const tmp = `.initramfs-restore-node-${process.pid}-${this.tmpCounter++}`;
    const root = this.root.toString();
    const result = type === 'socket'
      ? spawnSync(process.execPath, ['-e', BIND_SOCKET, tmp], { cwd: root, encoding: 'utf8' })
      : spawnSync('mknod', ['-m', (e.mode & 0o7777).toString(8), tmp, type === 'char' ? 'c' : type === 'block' ? 'b' : 'p',
        ...(type === 'fifo' ? [] : [String(e.rdevMajor), String(e.rdevMinor)])], { cwd: root, encoding: 'utf8' });
    if (result.error || result.status !== 0) {
      throw new Refusal(`creating the ${type} failed: ${result.error?.message ?? result.stderr.trim()}`);
    }
    renameSync(`${root}/${tmp}`, path);
    if (this.owners) lchownSync(path, e.uid, e.gid);
    if (type === 'socket') chmodSync(path, e.mode & 0o7777);
    utimesSync(path, e.mtime, e.mtime);
  }
}

const BIND_SOCKET = "require('node:net').createServer().listen(process.argv[1], () => process.exit(0))";
