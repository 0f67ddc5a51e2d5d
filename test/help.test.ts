import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../src/cli/main.js';
import { ROOT, cli } from './support/cli.js';

/** Every command with the options its parser accepts: the lists the help texts must match. */
const commands = await Promise.all(COMMANDS.map((entry) => entry.load()));

/** Each option as a help text writes it: `-v, --verbose` or `--json`. */
function accepted(options: Record<string, { short?: string }>): string[] {
  return Object.entries({ ...options, help: { short: 'h' } }).map(([long, { short }]) => (short ? `-${short}, --${long}` : `--${long}`)).sort();
}

/** The options a help text's Options section lists, as it writes them. */
function documented(help: string): string[] {
  const section = help.slice(help.indexOf('\nOptions:\n'));
  return [...section.matchAll(/^ {2}((?:-\w, )?--[\w-]+)/gm)].map((m) => m[1]).sort();
}

describe('--help', () => {
  it.each(commands.map((c) => [c.name, c] as const))('%s: its Options list exactly what its parser accepts, its synopsis names each', (name, command) => {
    const run = cli([name, '--help']);
    expect(run.status).toBe(0);
    const help = run.stdout.toString();
    expect(help).toMatch(new RegExp(`^Usage: initramfs-restore ${name}\\b`));
    expect(documented(help)).toEqual(accepted(command.options));
    const synopsis = help.slice(0, help.indexOf('\n\n'));
    for (const [long, { short }] of Object.entries(command.options)) {
      expect(synopsis).toMatch(new RegExp(`(--${long}${short ? `|-${short}` : ''})(?![\\w-])`));
    }
  });

  it('lists every command', () => {
    const help = cli(['--help']).stdout.toString();
    for (const { name } of COMMANDS) expect(help).toMatch(new RegExp(`^ {2}${name} `, 'm'));
  });
});

describe('the man page', () => {
  const man = readFileSync(`${ROOT}man/initramfs-restore.1`, 'utf8');

  /** The source of a `.SH` section, and its `.SS` subsections by name. */
  function section(name: string): { text: string; subsections: Map<string, string> } {
    const text = man.split(/^\.SH /m).find((s) => s.startsWith(`${name}\n`)) ?? '';
    const subsections = new Map(text.split(/^\.SS /m).slice(1).map((s) => [s.slice(0, s.indexOf('\n')), s] as const));
    return { text, subsections };
  }

  /** The tags of a subsection's `.TP` items, roff's \- read as -. */
  const tags = (text: string) => [...text.matchAll(/^\.TP\n(.*)$/gm)].map((m) => m[1].replaceAll('\\-', '-'));

  it('has every command in its SYNOPSIS, COMMANDS and OPTIONS', () => {
    const synopsis = section('SYNOPSIS').text;
    for (const { name } of commands) {
      expect(synopsis).toMatch(new RegExp(`^\\.B initramfs-restore ${name}$`, 'm'));
      expect([...section('COMMANDS').subsections.keys()]).toContain(name);
      expect([...section('OPTIONS').subsections.keys()]).toContain(name);
    }
  });

  it.each(commands.map((c) => [c.name, c] as const))('%s: its OPTIONS subsection lists exactly what its parser accepts', (name, command) => {
    const items = tags(section('OPTIONS').subsections.get(name) ?? '');
    const longs = items.flatMap((tag) => [...tag.matchAll(/--([\w-]+)/g)].map((m) => m[1]));
    expect(longs.sort()).toEqual(Object.keys(command.options).sort());
    for (const [long, { short }] of Object.entries(command.options)) {
      if (short) expect(items.find((tag) => tag.includes(`--${long}`))).toMatch(new RegExp(`-${short}\\b`));
    }
  });
});
