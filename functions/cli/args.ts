/** Command-line argument parsing with node:util, and the error a user sees for bad arguments. */
import { parseArgs } from 'node:util';
import { isIsoDate } from '../domain/time.js';

/** Bad arguments: printed as one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;

export function parseCommandArgs<T extends OptionSpec>(command: string, argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw new UsageError(`${command}: ${(e as Error).message.split('\n')[0]} (see "partner-audit help")`);
  }
}

export function requireString(command: string, name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new UsageError(`${command}: --${name} is required`);
  return value;
}

export function optionalDate(command: string, name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !isIsoDate(value)) {
    throw new UsageError(`${command}: --${name} must be a date YYYY-MM-DD, got "${String(value)}"`);
  }
  return value;
}

export function optionalPositiveInt(command: string, name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) {
    throw new UsageError(`${command}: --${name} must be a positive whole number, got "${String(value)}"`);
  }
  return n;
}
