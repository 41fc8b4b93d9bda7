/**
 * Ingestion before and after a change, side by side (issue 14: the holdings table may cost ingestion at
 * most 10 %): two builds of the CLI (`--old <package folder>`, `--new <package folder>`, each built by
 * `npm run build`) ingest the same night, runs alternated (old, new, old, ...) so that a busy machine
 * weighs on both alike, each into a fresh state file. The night: `--lines` generated lines (default
 * 1 M) as one file, and the same lines cut into objects of `--per-object` lines (default 200).
 *
 *   tsx bench/holdings-compare.ts --old /path/to/main --new . [--other /path/to/build] [--holdings-on]
 *     [--old-on] [--holdings-all]
 *     [--lines 1000000] [--per-object 200] [--runs 3]
 *
 * `--other` adds a third build (an earlier state of the change, say) to the same alternation, and
 * `--holdings-on` the new build once more with a copy of the registry that keeps holdings
 * (`settings.holdings: true`; holdings are off by default, so `new` alone measures them off).
 * `--old-on` adds the old build with that copy too, so that holdings' cost before and after a change
 * (on over off of each build) is measured in the same alternation. `--holdings-all` gives every build
 * that copy instead: holdings on before and after a change (builds that know `settings.holdings` only).
 *
 * Prints each run and the medians and minimums of the ingest command's own `seconds` and of its CPU
 * seconds (user + system of every thread, from /usr/bin/time: on a loaded machine CPU time moves far
 * less than wall time), with the load average before and after. No assertion: a timing is a measurement, not a test.
 */
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateDataset } from '../functions/cli/generate/generator.js';
import { splitLogFile } from './split-logs.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const oldRoot = resolve(arg('old', '.'));
const newRoot = resolve(arg('new', '.'));
const otherRoot = process.argv.includes('--other') ? resolve(arg('other', '.')) : undefined;
const holdingsOn = process.argv.includes('--holdings-on');
/** The old build once more with the registry that keeps holdings (with `--holdings-on`). */
const oldOn = holdingsOn && process.argv.includes('--old-on');
/** Every build with the registry that keeps holdings: holdings on before and after a change, side by side. */
const holdingsAll = process.argv.includes('--holdings-all');
const lines = Number(arg('lines', '1000000'));
const perObject = Number(arg('per-object', '200'));
const runs = Number(arg('runs', '3'));
const dataDir = resolve(arg('data', 'bench-data/holdings-compare'));

/**
 * Runs a command to its end under /usr/bin/time: its wall seconds, its CPU seconds (user + system of the
 * process and its threads) and stdout (bench/run.ts runs its own main on import).
 */
async function measure(
  command: string,
  args: readonly string[],
): Promise<{ seconds: number; cpu: number; stdout: string }> {
  const started = performance.now();
  const child = spawn('/usr/bin/time', ['-f', 'CPU %U %S', command, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await new Promise<number | null>((done) => child.on('close', done));
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${code}: ${stderr.slice(-500)}`);
  const times = /^CPU ([\d.]+) ([\d.]+)$/m.exec(stderr);
  if (times === null) throw new Error(`/usr/bin/time printed no CPU line: ${stderr.slice(-500)}`);
  const cpu = Number(times[1]) + Number(times[2]);
  return { seconds: (performance.now() - started) / 1000, cpu, stdout };
}

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

async function main(): Promise<void> {
  const setDir = join(dataDir, `${lines}`);
  let plain: string;
  let registry: string;
  const simpleDir = join(setDir, 'logs', 'simple');
  try {
    const name = (await readdir(simpleDir))[0]!;
    plain = join(simpleDir, name);
    registry = join(setDir, 'registry.yaml');
  } catch {
    await rm(setDir, { recursive: true, force: true });
    const summary = await generateDataset({
      outDir: setDir,
      start: '2026-11-01',
      days: 1,
      seed: 42,
      singleFile: { lines },
    });
    plain = join(summary.logsDir, 'simple', (await readdir(join(summary.logsDir, 'simple')))[0]!);
    registry = summary.registryPath;
  }
  const objectsDir = join(setDir, `objects-${perObject}`);
  try {
    if ((await readdir(objectsDir)).length === 0) throw new Error('empty');
  } catch {
    await mkdir(objectsDir, { recursive: true });
    await splitLogFile(plain, objectsDir, { lines: perObject, layout: 'simple' });
  }
  const states = join(tmpdir(), `holdings-compare-${process.pid}`);
  await mkdir(states, { recursive: true });
  const inputs = [
    { name: `${lines} lines, one file`, logs: plain },
    { name: `${lines} lines, objects of ${perObject}`, logs: objectsDir },
  ];
  // `--holdings-on`: the new build once more, with a registry that keeps holdings (settings.holdings).
  const registryOn = join(setDir, 'registry-holdings.yaml');
  if (holdingsOn || holdingsAll) {
    const text = await readFile(registry, 'utf8');
    if (!/^settings:\n/m.test(text)) throw new Error(`${registry}: no settings: block to add holdings to`);
    await writeFile(registryOn, text.replace(/^settings:\n/m, 'settings:\n  holdings: true\n'));
  }
  type Build = 'old' | 'old-on' | 'other' | 'new' | 'on';
  const base = holdingsAll ? registryOn : registry;
  const builds: { which: Build; root: string; registry: string }[] = [
    { which: 'old', root: oldRoot, registry: base },
    ...(oldOn ? [{ which: 'old-on' as const, root: oldRoot, registry: registryOn }] : []),
    ...(otherRoot === undefined ? [] : [{ which: 'other' as const, root: otherRoot, registry: base }]),
    { which: 'new', root: newRoot, registry: base },
    ...(holdingsOn ? [{ which: 'on' as const, root: newRoot, registry: registryOn }] : []),
  ];
  console.log(`load average before: ${load()}`);
  for (const input of inputs) {
    const seconds: Record<Build, number[]> = { old: [], 'old-on': [], new: [], other: [], on: [] };
    const cpu: Record<Build, number[]> = { old: [], 'old-on': [], new: [], other: [], on: [] };
    for (let run = 0; run < runs; run++) {
      for (const { which, root, registry: reg } of builds) {
        const db = join(states, `${which}-${run}.duckdb`);
        await rm(db, { force: true });
        const m = await measure('node', [
          join(root, 'bin/partner-audit.mjs'),
          'ingest',
          '--logs',
          input.logs,
          '--registry',
          reg,
          '--db',
          db,
          '--json',
        ]);
        const out = JSON.parse(m.stdout) as { seconds: number; lines: number };
        seconds[which].push(out.seconds);
        cpu[which].push(m.cpu);
        console.log(
          `${input.name}: ${which} run ${run + 1}: ${out.seconds.toFixed(2)} s in-process, ` +
            `${m.seconds.toFixed(2)} s wall, ${m.cpu.toFixed(2)} s CPU, ${out.lines} lines, load ${load()}`,
        );
        await rm(db, { force: true });
      }
    }
    const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    const min = (a: number[]) => Math.min(...a);
    const pct = (a: number, b: number) => ((a / b - 1) * 100).toFixed(1);
    for (const [what, values] of [
      ['in-process', seconds],
      ['CPU', cpu],
    ] as const) {
      console.log(
        `${input.name}, ${what}: old median ${med(values.old).toFixed(2)} s, minimum ${min(values.old).toFixed(2)} s`,
      );
      for (const { which } of builds.slice(1)) {
        console.log(
          `${input.name}, ${what}: ${which} median ${med(values[which]).toFixed(2)} s ` +
            `(${pct(med(values[which]), med(values.old))} %), minimum ` +
            `${min(values[which]).toFixed(2)} s (${pct(min(values[which]), min(values.old))} %)`,
        );
      }
      // Holdings' own cost: each build with them on over the same build off.
      const pairs: [string, Build, Build][] = [
        ...(holdingsOn ? [['new', 'on', 'new'] as [string, Build, Build]] : []),
        ...(oldOn ? [['old', 'old-on', 'old'] as [string, Build, Build]] : []),
      ];
      for (const [name, on, off] of pairs) {
        console.log(
          `${input.name}, ${what}: on over off, ${name} build: median ${pct(med(values[on]), med(values[off]))} %, ` +
            `minimum ${pct(min(values[on]), min(values[off]))} %`,
        );
      }
    }
  }
  console.log(`load average after: ${load()}`);
  await rm(states, { recursive: true, force: true });
}

await main();
