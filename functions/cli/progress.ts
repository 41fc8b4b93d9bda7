/** Progress on stderr: a rewritten line on a terminal, a line every few seconds otherwise. */
import type { Progress } from './local-ingest.js';

export function stderrProgress(enabled: boolean): Progress | undefined {
  if (!enabled) return undefined;
  const tty = process.stderr.isTTY === true;
  let lastPrint = 0;
  return ({ done, total }) => {
    const now = Date.now();
    const finished = done === total;
    if (!finished && now - lastPrint < (tty ? 100 : 5000)) return;
    lastPrint = now;
    const line = `ingesting log files: ${done}/${total}`;
    process.stderr.write(tty ? `\r${line}${finished ? '\n' : ''}` : `${line}\n`);
  };
}
