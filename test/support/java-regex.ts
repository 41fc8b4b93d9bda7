/**
 * Runs a regex over lines with java.util.regex, as Athena's RegexSerDe does (`Matcher.matches()`), for
 * tests that must see Java's own semantics and cost: possessive quantifiers and atomic groups, which
 * neither JavaScript nor RE2 reads, and Java's backtracking. Needs a `java` (11 or later runs a single
 * source file without compiling it first); `javaAvailable()` says whether there is one, so that a test
 * can say it skipped rather than pass without running.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What Java made of one line: the groups (null where a group took no part) and the time matches() took. */
export interface JavaMatch {
  readonly matched: boolean;
  readonly groups: readonly (string | null)[];
  readonly millis: number;
}

// Lines and groups travel as base64 of UTF-8, one line each, so that no quote, space or control in a
// log line can be misread on the way.
const SOURCE = `
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.*;
import java.util.regex.*;

public class RegexProbe {
  public static void main(String[] args) throws Exception {
    Base64.Decoder dec = Base64.getDecoder();
    Base64.Encoder enc = Base64.getEncoder();
    String regex = new String(Files.readAllBytes(Paths.get(args[0])), StandardCharsets.UTF_8);
    Pattern p = Pattern.compile(regex);
    StringBuilder out = new StringBuilder();
    for (String b64 : Files.readAllLines(Paths.get(args[1]), StandardCharsets.US_ASCII)) {
      String line = new String(dec.decode(b64), StandardCharsets.UTF_8);
      long t0 = System.nanoTime();
      Matcher m = p.matcher(line);
      boolean ok = m.matches();
      long nanos = System.nanoTime() - t0;
      out.append(ok ? "M" : "N").append(' ').append(nanos);
      if (ok) {
        for (int g = 1; g <= m.groupCount(); g++) {
          String v = m.group(g);
          out.append(' ').append(v == null ? "~" : enc.encodeToString(v.getBytes(StandardCharsets.UTF_8)));
        }
      }
      out.append('\\n');
    }
    System.out.print(out);
  }
}
`;

let available: boolean | undefined;

/** Whether a `java` that runs source files is on the PATH. */
export function javaAvailable(): boolean {
  if (available === undefined) {
    const r = spawnSync('java', ['-version'], { encoding: 'utf8' });
    available = r.status === 0;
  }
  return available;
}

/**
 * Matches each line against `regex` in one JVM; `timeoutMs` bounds the whole run (the JVM's start
 * included), and a run past it throws, so that a catastrophic backtrack fails the test rather than hang it.
 */
export async function javaMatches(
  regex: string,
  lines: readonly string[],
  timeoutMs = 60_000,
): Promise<JavaMatch[]> {
  const dir = await mkdtemp(join(tmpdir(), 'java-regex-'));
  try {
    await writeFile(join(dir, 'RegexProbe.java'), SOURCE);
    await writeFile(join(dir, 'regex.txt'), regex);
    await writeFile(
      join(dir, 'lines.txt'),
      lines.map((l) => Buffer.from(l, 'utf8').toString('base64')).join('\n'),
    );
    const r = spawnSync(
      'java',
      ['-Xss16m', join(dir, 'RegexProbe.java'), join(dir, 'regex.txt'), join(dir, 'lines.txt')],
      { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024 },
    );
    if (r.error) throw new Error(`java did not finish within ${timeoutMs} ms`, { cause: r.error });
    if (r.status !== 0) throw new Error(`java exited with ${r.status}: ${r.stderr}`);
    const decode = (g: string) => (g === '~' ? null : Buffer.from(g, 'base64').toString('utf8'));
    return r.stdout
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => {
        const [flag, nanos, ...groups] = l.split(' ');
        return { matched: flag === 'M', groups: groups.map(decode), millis: Number(nanos) / 1e6 };
      });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
