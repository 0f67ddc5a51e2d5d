// Turns bench/peers.sh's hyperfine exports into one table (stdout) and RAW/report.json.
//   node bench/peers-report.mjs RAW TMPFS_TYPE DISK_TYPE DISK_DIR RUNS
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';

const [raw, shmType, diskType, diskDir, runs] = process.argv.slice(2);
const median = (file, command) => {
  const r = JSON.parse(readFileSync(`${raw}/${file}`, 'utf8')).results.find((x) => x.command === command);
  return r?.median;
};
const rss = Object.fromEntries(readFileSync(`${raw}/rss.txt`, 'utf8').trim().split('\n').map((line) => {
  const [name, unpack, list, examine, threecpio] = line.split(' ');
  const mb = (kib) => Math.round(Number(kib) / 1024);
  return [name, { unpack: mb(unpack), list: mb(list), examine: mb(examine), threecpioUnpack: mb(threecpio) }];
}));
const names = readdirSync(raw).filter((f) => f.endsWith('-examine.json')).map((f) => f.slice(0, -'-examine.json'.length)).sort();
const rows = names.map((name) => {
  const unpack = (fs) => {
    const file = `${name}-unpack-${fs}.json`;
    return { ours: median(file, 'ours'), base: median(file, 'base'), threecpio: median(file, '3cpio'), native: median(file, 'native'), node: median(file, 'node-e-0') };
  };
  const list = { ours: median(`${name}-list.json`, 'ours'), base: median(`${name}-list.json`, 'base'), threecpio: median(`${name}-list.json`, '3cpio'), lsinitrd: median(`${name}-list.json`, 'lsinitrd'), node: median(`${name}-list.json`, 'node-e-0') };
  const examine = { ours: median(`${name}-examine.json`, 'ours'), base: median(`${name}-examine.json`, 'base'), threecpio: median(`${name}-examine.json`, '3cpio'), node: median(`${name}-examine.json`, 'node-e-0') };
  return { image: name, unpack: { [shmType]: unpack(shmType), [diskType]: unpack(diskType) }, list, examine, peakRssMB: rss[name] };
});

const s = (x) => x.toFixed(3);
const r = (x) => x.toFixed(2);
const lines = [
  `# bench/peers.sh, ${new Date().toISOString().slice(0, 10)}: ${cpus().length} cores ${cpus()[0].model.trim()}; medians of ${runs} hyperfine runs after a warm-up`,
  `# unpack into ${shmType} (/dev/shm) and ${diskType} (${diskDir}); list and examine write nothing.`,
  '# ÷: ours divided by the peer (below 1: ours is faster). "−node": ours less `node -e 0` timed in the same run, divided by 3cpio.',
  '# Peak RSS by GNU time: the largest process of each command (a co-process decoder counts).',
  '',
];
const table = (header, body) => {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  return [header, ...body].map((cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
};
for (const fs of [shmType, diskType]) {
  lines.push(`unpack into ${fs}, seconds`);
  lines.push(table(['image', 'ours', '3cpio', 'native', '÷3cpio', '÷native', '−node÷3cpio'], rows.map((row) => {
    const u = row.unpack[fs];
    return [row.image, s(u.ours), s(u.threecpio), s(u.native), r(u.ours / u.threecpio), r(u.ours / u.native), r((u.ours - u.node) / u.threecpio)];
  })));
  lines.push('');
}
lines.push('list and examine, seconds');
lines.push(table(['image', 'list ours', '3cpio -t', 'lsinitrd', '÷3cpio', '÷lsinitrd', '−node÷3cpio', 'examine ours', '3cpio -e', '÷3cpio', '−node÷3cpio', 'node -e 0'], rows.map((row) => {
  const { list: l, examine: e } = row;
  return [row.image, s(l.ours), s(l.threecpio), s(l.lsinitrd), r(l.ours / l.threecpio), r(l.ours / l.lsinitrd), r((l.ours - l.node) / l.threecpio),
    s(e.ours), s(e.threecpio), r(e.ours / e.threecpio), r((e.ours - e.node) / e.threecpio), s(e.node)];
})));
lines.push('');
lines.push('peak RSS, MB');
lines.push(table(['image', 'ours unpack', 'ours list', 'ours examine', '3cpio -x'], rows.map((row) => {
  const m = row.peakRssMB;
  return [row.image, String(m.unpack), String(m.list), String(m.examine), String(m.threecpioUnpack)];
})));
if (rows.some((row) => row.list.base !== undefined)) {
  lines.push('');
  lines.push('this tree against BASE, in the same runs: seconds, and ours ÷ base (below 1: this tree is faster)');
  const pair = (m) => [s(m.ours), s(m.base), r(m.ours / m.base)];
  lines.push(table(['image', `unpack ${shmType}`, 'base', '÷', `unpack ${diskType}`, 'base', '÷', 'list', 'base', '÷', 'examine', 'base', '÷'], rows.map((row) => [
    row.image, ...pair(row.unpack[shmType]), ...pair(row.unpack[diskType]), ...pair(row.list), ...pair(row.examine),
  ])));
}
console.log(lines.join('\n'));
writeFileSync(`${raw}/report.json`, `${JSON.stringify({ date: new Date().toISOString(), cores: cpus().length, cpu: cpus()[0].model.trim(), runs: Number(runs), filesystems: { tmpfs: shmType, disk: diskType, diskDir }, rows }, null, 2)}\n`);
