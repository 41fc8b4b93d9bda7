/**
 * Log lines through the local scanner in memory (the aggregator behind ingestion, without files or
 * DuckDB): the batch of rows it makes and the strings its codes name.
 */
import { RowBatchBuilder } from '../../functions/adapters/logs/index.js';
import { LogAggregator } from '../../functions/adapters/logs/log-aggregator.js';
import { AreaLines } from '../../functions/adapters/logs/log-reader.js';
import type { RowBatch } from '../../functions/adapters/logs/row-batch.js';

/** What the scanner made of some lines: the batch, and `strings[code]` for each code in it. */
export interface ScannedLines {
  readonly batch: RowBatch;
  readonly strings: readonly string[];
}

/** Scans `lines` (each without its newline) as one area, dataset depth 2, as ingestion would. */
export function scanLines(lines: readonly string[]): ScannedLines {
  const builder = new RowBatchBuilder(4);
  const aggregator = new LogAggregator({ datasetDepth: 2, sampleLimit: 5 }, builder);
  aggregator.begin(0);
  const area = new AreaLines(aggregator, 64 * 1024);
  area.push(Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8'));
  area.finish();
  aggregator.finish();
  return { batch: builder.take(), strings: aggregator.strings.values };
}
