#!/usr/bin/env node
// node:zlib has zstd from Node 22.15: say so plainly instead of failing on an import.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 15)) {
  process.stderr.write(`initramfs-restore: needs Node >= 22.15 (this is ${process.version}); in a checkout, 'npx node bin/initramfs-restore.js' runs the project's Node 24\n`);
  process.exit(1);
}
const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
