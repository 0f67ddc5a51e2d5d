import { existsSync, readdirSync } from 'node:fs';
import { ROOT } from './cli.js';

/** Where test-images/build-real-images.sh puts the images Debian's dracut builds. */
export const REAL = `${ROOT}test-images/real`;

/** dracut's compressions as the image names spell them (lzo for lzop, none for plain cpio). */
export const REAL_FORMATS = ['bzip2', 'gzip', 'lz4', 'lzo', 'none', 'xz', 'zstd'] as const;

/** The images `build-real-images.sh --extra` builds, as npm run setup runs it, sorted. */
export const REAL_IMAGES = REAL_FORMATS.map((f) => `fedora-like-${f}.img`);

/**
 * The real images are expected in CI and wherever test-images/real exists: then all of them,
 * and a test over them must fail when one is missing rather than pass over fewer. Elsewhere the
 * tests over them are skipped, visibly.
 */
export const REAL_EXPECTED = Boolean(process.env.CI) || existsSync(REAL);

/** The fedora-like images actually in test-images/real, sorted. */
export function realImagesFound(): string[] {
  return existsSync(REAL) ? readdirSync(REAL).filter((f) => /^fedora-like-.*\.img$/.test(f)).sort() : [];
}

export const realImage = (name: string) => `${REAL}/${name}`;
