/**
 * Where cleanplate itself is installed (the folder with its package.json),
 * whether running compiled from dist/ or from the TypeScript sources.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The package root folder (holds package.json, models/, config/). */
export function packageRoot(): string {
  if (root) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'cleanplate') {
      root = dir;
      return dir;
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cleanplate package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}
