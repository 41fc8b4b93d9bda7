/**
 * The log scanner alone (LogAggregator over one file, no DuckDB, no worker), several source trees side by
 * side in one process: each tree's own aggregator and scanner.wasm read the same file from memory, the
 * trees in turn and the order rotated every run, so that a busy machine weighs on all alike. A tree is a
 * checkout (`git archive <commit> | tar -x -C dir`, node_modules linked in); the first is the baseline.
 *
 *   tsx bench/scanner-compare.ts --file <log file> --trees main=/tmp/main,new=. [--runs 12]
 *
 * Prints the rows each tree emits (rollup and network, first run), then per tree the wall and process
 * CPU seconds (user + system, process.cpuUsage) of every run, their minimum and median, and the median
 * over runs of the CPU ratio to the baseline's in the same run. Process CPU moves far less than wall time
 * on a loaded machine; both are upper bounds. No assertion: a timing is a measurement, not a test.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';

function option(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? process.argv[i + 1] : fallback;
  if (value === undefined) throw new Error(`--${name} is required`);
  return value;
}

const file = option('file');
const runs = Number(option('runs', '12'));
const trees = option('trees')
  .split(',')
  .map((t) => {
    const [name, path] = t.split('=');
    if (name === undefined || path === undefined) throw new Error(`--trees: "${t}" is not name=path`);
    return { name, root: resolve(path) };
  });

const CHUNK = 4 * 1024 * 1024;
const text = readFileSync(file);

/** A tree's modules, typed as this tree's (the trees compared share these interfaces). */
interface Modules {
  readonly index: typeof import('../functions/adapters/logs/index.js');
  readonly aggregator: typeof import('../functions/adapters/logs/log-aggregator.js');
  readonly reader: typeof import('../functions/adapters/logs/log-reader.js');
}

interface Tree {
  readonly name: string;
  readonly modules: Modules;
  readonly wall: number[];
  readonly cpu: number[];
}

const loaded: Tree[] = [];
for (const t of trees) {
  loaded.push({
    name: t.name,
    modules: {
      index: (await import(`${t.root}/functions/adapters/logs/index.ts`)) as Modules['index'],
      aggregator: (await import(
        `${t.root}/functions/adapters/logs/log-aggregator.ts`
      )) as Modules['aggregator'],
      reader: (await import(`${t.root}/functions/adapters/logs/log-reader.ts`)) as Modules['reader'],
    },
    wall: [],
    cpu: [],
  });
}

/** One pass of tree `t` over the file: the rollup and network rows it emitted. */
function pass(t: Tree): { rollup: number; network: number } {
  const m = t.modules;
  const started = performance.now();
  const cpu = process.cpuUsage();
  const builder = new m.index.RowBatchBuilder(4);
  const aggregator = new m.aggregator.LogAggregator({ datasetDepth: 2, sampleLimit: 5 }, builder);
  aggregator.begin(0);
  const area = new m.reader.AreaLines(aggregator, CHUNK);
  for (let at = 0; at < text.length; at += CHUNK)
    area.push(text.subarray(at, Math.min(text.length, at + CHUNK)));
  area.finish();
  aggregator.finish();
  const batch = builder.take();
  const used = process.cpuUsage(cpu);
  t.wall.push((performance.now() - started) / 1000);
  t.cpu.push((used.user + used.system) / 1e6);
  return { rollup: batch.count, network: batch.network.count };
}

const median = (a: readonly number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const list = (a: readonly number[]) => a.map((s) => s.toFixed(3)).join(' ');

console.log(
  `${file}: ${trees.map((t) => `${t.name}=${t.root}`).join(', ')}; load ${loadavg()[0]!.toFixed(2)}`,
);
for (let run = 0; run < runs; run++) {
  const order = loaded.slice(run % loaded.length).concat(loaded.slice(0, run % loaded.length));
  for (const t of order) {
    const rows = pass(t);
    if (run === 0) console.log(`${t.name}: ${rows.rollup} rollup rows, ${rows.network} network rows emitted`);
  }
  console.log(`run ${run + 1} done, load ${loadavg()[0]!.toFixed(2)}`);
}
const base = loaded[0]!;
for (const t of loaded) {
  const ratio = median(t.cpu.map((c, i) => c / base.cpu[i]!));
  console.log(
    `${t.name} wall: ${list(t.wall)}; minimum ${Math.min(...t.wall).toFixed(3)}, median ${median(t.wall).toFixed(3)}`,
  );
  console.log(
    `${t.name} cpu:  ${list(t.cpu)}; minimum ${Math.min(...t.cpu).toFixed(3)}, median ${median(t.cpu).toFixed(3)}, ` +
      `median ratio to ${base.name} ${ratio.toFixed(3)}`,
  );
}
