/** A DuckDB store operation failed. `operation` names the store method; `cause` is DuckDB's own error. */
export class DuckDbStoreError extends Error {
  override readonly name = 'DuckDbStoreError';
  readonly operation: string;
  readonly path: string;

  constructor(operation: string, path: string, message: string, options?: { cause?: unknown }) {
    super(`${operation} (${path}): ${message}`, options);
    this.operation = operation;
    this.path = path;
  }
}

/** A rollup row handed to the store breaks the seam's rules (wrong batch, unaligned slot, negative count). */
export class InvalidRollupRowError extends Error {
  override readonly name = 'InvalidRollupRowError';
  /** 0-based position of the row in the batch given to the store. */
  readonly index: number;

  constructor(index: number, message: string) {
    super(`rollup row ${index}: ${message}`);
    this.index = index;
  }
}
