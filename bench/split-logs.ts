/**
 * Splits one access-log file into many small log objects, as S3 delivers a day of them: each object
 * holds `--lines` consecutive lines (the last one what is left) and is named as S3 names its log
 * objects, under either key layout (REFERENCE.md):
 * - simple:      <out>/YYYY-mm-DD-HH-MM-SS-UniqueString
 * - partitioned: <out>/SourceAccountId/SourceRegion/SourceBucket/YYYY/MM/DD/YYYY-MM-DD-hh-mm-ss-UniqueString
 * The time in a name is that of the object's first line (S3 names an object by when it wrote it, a few
 * minutes later; the ingester reads the time from the lines, so only the form matters), the unique
 * string a hash of the object's number. Lines are copied byte for byte; nothing is parsed.
 *
 *   node --import tsx bench/split-logs.ts <log file> <out dir> [--lines 200] [--layout simple|partitioned]
 */
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type SplitLayout = 'simple' | 'partitioned';

export interface SplitOptions {
  /** Lines per object. */
  readonly lines: number;
  readonly layout: SplitLayout;
}

/** Where S3 puts a partitioned object: account, region and source bucket segments. */
const PARTITION = ['123456789012', 'us-east-1', 'provider-partner-data'] as const;

const MONTHS: Readonly<Record<string, string>> = {
  Jan: '01',
  Feb: '02',
  Mar: '03',
  Apr: '04',
  May: '05',
  Jun: '06',
  Jul: '07',
  Aug: '08',
  Sep: '09',
  Oct: '10',
  Nov: '11',
  Dec: '12',
};

/** `[dd/Mon/yyyy:HH:MM:SS` of a log line as name parts; a line without one gets a fixed stamp. */
function stampOf(line: string): { y: string; m: string; d: string; time: string } {
  const match = /\[(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2})/.exec(line);
  const month = match ? MONTHS[match[2]!] : undefined;
  if (!match || month === undefined) return { y: '2026', m: '01', d: '01', time: '00-00-00' };
  return { y: match[3]!, m: month, d: match[1]!, time: `${match[4]}-${match[5]}-${match[6]}` };
}

/** The path of object number `n` whose first line is `first`, relative to the output folder. */
export function objectKey(n: number, first: string, layout: SplitLayout): string {
  const s = stampOf(first);
  const unique = createHash('sha256').update(String(n)).digest('hex').slice(0, 16).toUpperCase();
  const name = `${s.y}-${s.m}-${s.d}-${s.time}-${unique}`;
  return layout === 'simple' ? name : join(...PARTITION, s.y, s.m, s.d, name);
}

/** Writes the objects; returns how many and how many lines they hold. */
export async function splitLogFile(
  file: string,
  outDir: string,
  options: SplitOptions,
): Promise<{ objects: number; lines: number }> {
  if (!Number.isInteger(options.lines) || options.lines < 1) {
    throw new RangeError(`lines per object must be a whole number >= 1, got ${options.lines}`);
  }
  let pending: string[] = [];
  let objects = 0;
  let lines = 0;
  let carry = '';
  const made = new Set<string>();
  const flush = () => {
    if (pending.length === 0) return;
    const key = objectKey(objects++, pending[0]!, options.layout);
    const path = join(outDir, key);
    const dir = join(path, '..');
    if (!made.has(dir)) {
      mkdirSync(dir, { recursive: true });
      made.add(dir);
    }
    writeFileSync(path, `${pending.join('\n')}\n`);
    pending = [];
  };
  for await (const chunk of createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    const parts = (carry + chunk).split('\n');
    carry = parts.pop()!;
    for (const line of parts) {
      pending.push(line);
      lines++;
      if (pending.length === options.lines) flush();
    }
  }
  if (carry !== '') {
    pending.push(carry);
    lines++;
  }
  flush();
  return { objects, lines };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, outDir, ...rest] = process.argv.slice(2);
  let lines = 200;
  let layout: SplitLayout = 'simple';
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--lines') lines = Number(rest[++i]);
    else if (rest[i] === '--layout' && (rest[i + 1] === 'simple' || rest[i + 1] === 'partitioned'))
      layout = rest[++i] as SplitLayout;
    else {
      process.stderr.write(`split-logs: unknown option ${rest[i]}\n`);
      process.exit(2);
    }
  }
  if (file === undefined || outDir === undefined) {
    process.stderr.write(
      'usage: split-logs.ts <log file> <out dir> [--lines 200] [--layout simple|partitioned]\n',
    );
    process.exit(2);
  }
  const out = await splitLogFile(file, outDir, { lines, layout });
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
