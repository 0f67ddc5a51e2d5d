import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { ROOT, sh } from './cli.js';

export const FIXTURES = `${ROOT}test-images/build`;

export interface ManifestArchive {
  start: number;
  end: number;
  format: 'cpio';
  magic: string;
  content: string;
}

export interface ManifestSegment {
  start: number;
  end: number;
  format: string;
  variant?: string;
  inner?: ManifestArchive[];
}

export interface Manifest {
  image: string;
  size: number;
  description: string;
  segments: ManifestSegment[];
}

export function fixtureImages(): { path: string; manifest: Manifest }[] {
  if (!existsSync(FIXTURES)) return [];
  return readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.expected.json'))
    .sort()
    .map((f) => {
      const manifest = JSON.parse(readFileSync(`${FIXTURES}/${f}`, 'utf8')) as Manifest;
      return { path: `${FIXTURES}/${manifest.image}`, manifest };
    });
}

/**
 * test-images/sample.img, the committed image the README shows, with the manifest
 * make-sample.sh wrote beside it (sample.expected.json, in the fixtures' format).
 */
export function sampleImage(): { path: string; manifest: Manifest } {
  const manifest = JSON.parse(readFileSync(`${ROOT}test-images/sample.expected.json`, 'utf8')) as Manifest;
  return { path: `${ROOT}test-images/${manifest.image}`, manifest };
}

/** The image names test-images/build-fixtures.sh lists in its stamp, fixtures.json. */
export function fixtureNames(): string[] {
  return (JSON.parse(readFileSync(`${FIXTURES}/fixtures.json`, 'utf8')) as { images: string[] }).images;
}

/** What the real tool runs to decompress each format. */
export const NATIVE_DECOMPRESS: Record<string, string> = {
  gzip: 'gzip -dc',
  bzip2: 'bzip2 -dc',
  xz: 'xz -dc',
  lzma: 'xz --format=lzma -dc',
  lz4: 'lz4 -dc',
  lzop: 'lzop -dc',
  zstd: 'zstd -dc --long=31',
};

/**
 * Each cpio archive of an image as raw bytes, cut out with the manifest's offsets and
 * decompressed by the real tools: the oracle's view, independent of our reader.
 */
export function archivesOf(path: string, manifest: Manifest): Buffer[] {
  const image = readFileSync(path);
  const archives: Buffer[] = [];
  for (const seg of manifest.segments) {
    const bytes = image.subarray(seg.start, seg.end);
    if (seg.format === 'cpio') {
      archives.push(bytes);
      continue;
    }
    const plain = sh(NATIVE_DECOMPRESS[seg.format], { input: bytes });
    for (const inner of seg.inner ?? []) archives.push(plain.subarray(inner.start, inner.end));
  }
  return archives;
}
