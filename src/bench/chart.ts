import { type BenchReport, type BenchRow, type ImageResult, imageName } from './bench.js';

const WIDTH = 1040;
const LABEL = 200;
const PLOT = 480;
const ROW = 24;
const BAR = 14;
const COLORS = { floor: '#8c8c8c', native: '#4e79a7', builtin: '#f28e2b', failed: '#d62728' };

/**
 * The benchmark as an SVG a person would rather read than the table: one panel per image, a bar
 * per combination at its median wall time with a whisker from the fastest run to the slowest, the
 * native floor as a dashed line, and what went wrong (console not UTF-8, junk, nothing restored)
 * written beside the bar.
 */
export function renderChart(report: BenchReport): string {
  const parts: string[] = [];
  let y = 0;
  const text = (x: number | string, ty: number, body: string, attrs = ''): void => {
    parts.push(`<text x="${x}" y="${ty}"${attrs ? ` ${attrs}` : ''}>${escapeXml(body)}</text>`);
  };

  y += 24;
  text(16, y, 'initramfs-restore bench: restore time by decompressor order and engine', 'class="title"');
  y += 18;
  const { runs, warmup, console } = report.settings;
  text(16, y, `median of ${runs} run${runs === 1 ? '' : 's'} after ${warmup} warm-up${warmup === 1 ? '' : 's'}, whiskers min to max; console: ${console}; ` +
    `${report.machine.cpu}, ${report.machine.cores} cores, ${report.machine.os ?? report.machine.kernel}`, 'class="note"');
  y += 18;
  let x = 16;
  for (const [name, color] of [['native floor (the right pipeline alone)', COLORS.floor], ['native engine (the script\'s pipelines)', COLORS.native], ['builtin engine (our readers: a tool, not the script)', COLORS.builtin]] as const) {
    parts.push(`<rect x="${x}" y="${y - 10}" width="12" height="12" fill="${color}"/>`);
    text(x + 16, y, name, 'class="note"');
    x += Math.round(16 + name.length * 6.2 + 18);
  }
  y += 14;

  for (const image of report.images) y = panel(image, y, parts, text);

  const height = y + 16;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="DejaVu Sans, Verdana, sans-serif" font-size="12">`,
    '<style>.title{font-size:16px;font-weight:bold}.image{font-size:13px;font-weight:bold}.note{fill:#555;font-size:11px}.bad{fill:#d62728}.axis{fill:#777;font-size:10px}</style>',
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

function panel(image: ImageResult, top: number, parts: string[], text: (x: number | string, y: number, body: string, attrs?: string) => void): number {
  let y = top + 22;
  const facts = [image.magic, `${(image.bytes / 2 ** 20).toFixed(1)} MiB`, ...image.kernels.slice(0, 1).map((k) => `kernel ${k}`)];
  text(16, y, `${imageName(image)}  (${facts.join(', ')})`, 'class="image"');
  y += 8;
  const rows = image.rows.filter((r) => r.summary.runs > 0);
  const longest = Math.max(...rows.map((r) => r.summary.wallMs.max), 1e-9);
  const step = niceStep(longest / 5);
  const end = Math.ceil(longest / step) * step;
  const scale = (ms: number): number => LABEL + (ms / end) * PLOT;
  const plotTop = y;
  const plotBottom = y + rows.length * ROW;

  for (let tick = 0; tick <= end + step / 2; tick += step) {
    const tx = scale(tick).toFixed(1);
    parts.push(`<line x1="${tx}" y1="${plotTop}" x2="${tx}" y2="${plotBottom}" stroke="#eee"/>`);
    text(tx, plotBottom + 12, formatSeconds(tick, step), 'class="axis" text-anchor="middle"');
  }
  const floor = rows.find((r) => r.floor && r.summary.winner);
  if (floor) {
    const fx = scale(floor.summary.wallMs.median).toFixed(1);
    parts.push(`<line x1="${fx}" y1="${plotTop}" x2="${fx}" y2="${plotBottom}" stroke="${COLORS.floor}" stroke-dasharray="4 3"/>`);
  }

  for (const row of rows) {
    const mid = y + ROW / 2;
    const { median, min, max } = row.summary.wallMs;
    text(LABEL - 8, mid + 4, row.floor ? `floor: ${row.order} pipeline` : `${row.label} · ${row.engine === 'native' ? 'native' : 'ours'}`, 'text-anchor="end"');
    const color = row.floor ? COLORS.floor : COLORS[row.engine];
    const failed = !row.summary.winner;
    parts.push(`<rect x="${LABEL}" y="${mid - BAR / 2}" width="${Math.max(1, scale(median) - LABEL).toFixed(1)}" height="${BAR}" ` +
      (failed ? `fill="#fff" stroke="${COLORS.failed}" stroke-dasharray="3 2"/>` : `fill="${color}"/>`));
    const [x1, x2] = [scale(min), scale(max)];
    parts.push(`<path d="M${x1.toFixed(1)} ${mid}H${x2.toFixed(1)}M${x1.toFixed(1)} ${mid - 4}V${mid + 4}M${x2.toFixed(1)} ${mid - 4}V${mid + 4}" stroke="#333" fill="none"/>`);
    text(Math.round(Math.max(x2, scale(median)) + 6), mid + 4, describeRow(row), failed || row.summary.consoleUtf8 === false ? 'class="bad"' : '');
    y += ROW;
  }
  return plotBottom + 14;
}

function describeRow(row: BenchRow): string {
  const s = row.summary;
  const words = [`${(s.wallMs.median / 1000).toFixed(s.wallMs.median < 1000 ? 3 : 2)} s`];
  if (!s.winner) words.push(s.consistent ? 'nothing restored' : 'restored in some runs only');
  else if (!row.floor && s.ratioToFloor !== null) words.push(`×${s.ratioToFloor.toFixed(2)}`);
  if (s.failedAttempts > 0) words.push(`${s.failedAttempts} failed`);
  if (s.consoleUtf8 === false) words.push(`console not UTF-8 (${(s.consoleBytes ?? 0).toLocaleString('en')} B)`);
  if (s.junkEntries > 0) words.push(`${s.junkEntries} junk`);
  return words.join(' · ');
}

/** 1, 2 or 5 times a power of ten, in ms. */
function niceStep(rough: number): number {
  const power = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
}

function formatSeconds(ms: number, step: number): string {
  const digits = Math.max(0, -Math.floor(Math.log10(step / 1000)));
  return `${(ms / 1000).toFixed(digits)} s`;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}
