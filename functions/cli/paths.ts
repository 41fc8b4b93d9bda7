import { relative, resolve } from 'node:path';

/** A path as the user would type it: relative to the working directory when inside it. */
export function displayPath(p: string): string {
  const rel = relative(process.cwd(), resolve(p));
  return rel.startsWith('..') ? resolve(p) : rel || '.';
}
