/**
 * Issue 17, item 2: S3 writes the user agent unescaped, so a client can put `"` and a run of well-formed
 * trailing fields into it, for instance the access point ARN of another partner. Attribution checks the
 * access point before the requester's account, so a parser that ended the agent at the first quote that
 * "fits" would let partner A's downloads be billed to partner B. S3's trailing fields never hold a
 * quote: the agent ends at the line's last quote, on both engines. These properties say that no
 * user-agent content can change any field after it, on the local scanner and through the Athena regex
 * (JavaScript reads its portable form; Java, when present, the one the Glue table holds), and that no
 * forged agent moves usage between partners, end to end on both engines.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ACCESS_LOG_COLUMNS,
  ACCESS_LOG_REGEX,
  ACCESS_LOG_REGEX_PORTABLE,
} from '../../functions/adapters/athena/access-log-regex.js';
import { AthenaQueryRunner } from '../../functions/adapters/athena/athena-client.js';
import { AthenaUsageSource } from '../../functions/adapters/athena/athena-usage-source.js';
import { clearBatchSql, insertBatchRollupSql } from '../../functions/adapters/athena/sql.js';
import { ingestLogFile, parseAccessLogLine } from '../../functions/adapters/logs/index.js';
import { buildAttributor } from '../../functions/domain/attribution.js';
import { parseRegistry } from '../../functions/domain/registry.js';
import type { UsageRow } from '../../functions/domain/usage.js';
import { AthenaLocalServer } from '../support/athena-local-server.js';
import { localAthenaClient } from '../support/aws-local-clients.js';
import { javaAvailable, javaMatches } from '../support/java-regex.js';
import { type LogLineFields, logLine } from '../support/log-lines.js';

const A_ACCOUNT = '111122223333';
const B_ACCESS_POINT = 'arn:aws:s3:eu-central-1:444455556666:accesspoint/partner-b-reader';

/** Trailing fields as S3 writes them (version id .. source region): no quote, no space. */
const TRAILING_NAMES = [
  'versionId',
  'hostId',
  'sigv',
  'cipher',
  'authType',
  'host',
  'tls',
  'accessPoint',
  'aclRequired',
  'sourceRegion',
] as const satisfies readonly (keyof LogLineFields)[];

/** What a forger would append after a `"` in its agent: a full set of plausible trailing fields. */
const forgedTrailing = (accessPoint: string, extra: string) =>
  `- Zm9yZ2Vk SigV4 TLS_AES_128_GCM_SHA256 AuthHeader partner-b.s3.amazonaws.com TLSv1.3 ${accessPoint} Yes eu-central-1${extra}`;

const token = fc.stringMatching(/^[A-Za-z0-9._:/+=()-]{1,16}$/);
/** User-agent text: words, quotes, spaces, quote-space pairs and forged trailing blocks, in any order. */
const agentText = fc
  .array(
    fc.oneof(
      token,
      fc.constantFrom('"', ' ', '" ', ' "', '" "', '""', ' - ', '" -', '\t'),
      fc
        .tuple(fc.constantFrom(B_ACCESS_POINT, '-'), fc.constantFrom('', ' pad', ' "', ' x"'))
        .map(([ap, extra]) => `" ${forgedTrailing(ap, extra)}`),
    ),
    { maxLength: 10 },
  )
  .map((parts) => parts.join(''));
const trailingValue = fc.stringMatching(/^[A-Za-z0-9._:/+=-]{1,24}$/);

/** A line whose agent is hostile, with its true trailing fields, in every generation S3 has written. */
const forgedLine = fc
  .record({
    agent: agentText,
    trailing: fc.array(trailingValue, { minLength: 10, maxLength: 10 }),
    fields: fc.constantFrom(17, 18, 24, 25, 26, 27),
    extra: fc.array(trailingValue, { maxLength: 2 }),
    referer: fc.constantFrom('"-"', '-', '"https://example.com/a?b=c"'),
    uri: fc.constantFrom('"GET /feeds/weather/a.csv HTTP/1.1"', '-', '"GET /a"b HTTP/1.1"'),
  })
  .map((g) => {
    const overrides: Partial<LogLineFields> = {
      userAgent: `"${g.agent}"`,
      referer: g.referer,
      uri: g.uri,
    };
    TRAILING_NAMES.forEach((name, i) => {
      overrides[name] = g.trailing[i]!;
    });
    const extra = g.fields === 27 ? g.extra : [];
    return { line: logLine(overrides, { fields: g.fields, extra }), ...g, extra };
  });

type Forged = typeof forgedLine extends fc.Arbitrary<infer T> ? T : never;

/** The trailing fields the line was written with: the first `fields - 17`, the rest absent. */
function expectedTrailing(g: Forged): (string | null)[] {
  return TRAILING_NAMES.map((_, i) => (17 + i < g.fields ? g.trailing[i]! : null));
}

const portable = new RegExp(ACCESS_LOG_REGEX_PORTABLE);

describe('a forged user agent', () => {
  it('changes no field after it on the local scanner (also with a CRLF line end)', () => {
    fc.assert(
      fc.property(forgedLine, fc.boolean(), (g, crlf) => {
        const r = parseAccessLogLine(crlf ? `${g.line}\r` : g.line);
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        expect(r.userAgent).toBe(g.agent === '' ? '-' : g.agent);
        const read = [
          r.versionId,
          r.hostId,
          r.signatureVersion,
          r.cipherSuite,
          r.authType,
          r.hostHeader,
          r.tlsVersion,
          r.accessPointArn,
          r.aclRequired,
          r.sourceRegion,
        ];
        expect(read).toEqual(expectedTrailing(g).map((v) => v ?? '-'));
        expect(r.fieldCount).toBe(g.fields + g.extra.length);
        expect(r.httpStatus).toBe('200');
        expect(r.bytesSent).toBe(48213);
      }),
      { numRuns: 2000 },
    );
  });

  it('changes no field after it through the Athena regex (portable form, as RE2 reads it)', () => {
    fc.assert(
      fc.property(forgedLine, (g) => {
        const m = portable.exec(g.line);
        expect(m).not.toBeNull();
        expect(m?.[17]).toBe(`"${g.agent}"`);
        expect(m?.slice(18, 28).map((v) => v ?? null)).toEqual(expectedTrailing(g));
        expect(m?.[10]).toBe('200');
      }),
      { numRuns: 2000 },
    );
  });

  it('changes no field after it through the Athena regex as Java reads it (java.util.regex)', async (ctx) => {
    if (!javaAvailable()) {
      console.warn('SKIPPED: no `java` on this machine; the Java form of the Athena regex did not run');
      ctx.skip();
      return;
    }
    const sample = fc.sample(forgedLine, { numRuns: 1500, seed: 17 });
    const matches = await javaMatches(
      ACCESS_LOG_REGEX,
      sample.map((g) => g.line),
    );
    sample.forEach((g, i) => {
      const m = matches[i]!;
      expect(m.matched, g.line).toBe(true);
      expect(m.groups[ACCESS_LOG_COLUMNS.indexOf('useragent')], g.line).toBe(`"${g.agent}"`);
      expect(m.groups.slice(17, 27), g.line).toEqual(expectedTrailing(g));
    });
  });
});

describe('a forged access point in the user agent, end to end', () => {
  const registry = parseRegistry(
    JSON.stringify({
      version: 1,
      provider: { name: 'Provider', noticeFrom: 'p@provider.example', contactEmail: 'p@provider.example' },
      partners: [
        {
          id: 'partner-a',
          name: 'A',
          timeZone: 'UTC',
          accountOwners: [{ email: 'o@a.example' }],
          applications: [{ id: 'etl', name: 'ETL', principals: [{ account: A_ACCOUNT }] }],
          contracts: [{ id: 'a1', effectiveFrom: '2026-01-01', currency: 'USD', datasets: ['feeds/'] }],
        },
        {
          id: 'partner-b',
          name: 'B',
          timeZone: 'UTC',
          accountOwners: [{ email: 'o@b.example' }],
          applications: [{ id: 'reader', name: 'Reader', principals: [{ accessPoint: B_ACCESS_POINT }] }],
          contracts: [{ id: 'b1', effectiveFrom: '2026-01-01', currency: 'USD', datasets: ['feeds/'] }],
        },
      ],
    }),
    'test',
  );
  const attribute = buildAttributor(registry);

  /** Partner A's requests (its account's IAM user, no access point), each with a forged agent. */
  const crafted = [
    `x" ${forgedTrailing(B_ACCESS_POINT, '')}`,
    `x" ${forgedTrailing(B_ACCESS_POINT, ' pad')}`,
    `Mozilla/5.0" ${forgedTrailing(B_ACCESS_POINT, ' "')}`,
    `a" "b" ${forgedTrailing(B_ACCESS_POINT, ' c" d')}`,
    `${'" '.repeat(50)}${forgedTrailing(B_ACCESS_POINT, '')}`,
  ];
  const sampled = fc
    .sample(agentText, { numRuns: 60, seed: 2 })
    .map((a) => `${a} " ${forgedTrailing(B_ACCESS_POINT, '')} x`);
  // S3 writes the agent between quotes as it came: the quote that ends it is S3's.
  const LINES = [...crafted, ...sampled].map((agent, i) =>
    logLine({
      userAgent: `"${agent}"`,
      requester: `arn:aws:iam::${A_ACCOUNT}:user/etl-reader`,
      time: `14/Mar/2026:09:${String(i % 60).padStart(2, '0')}:44 +0000`,
    }),
  );

  const tables = { database: 'partner_audit', logsTable: 'access_logs', rollupTable: 'usage_rollup' };
  let server: AthenaLocalServer;
  let dir: string;

  beforeAll(async () => {
    server = await AthenaLocalServer.start(tables);
    dir = await mkdtemp(join(tmpdir(), 'forged-agent-'));
    const body = `${LINES.join('\n')}\n`;
    await server.addLogObject(
      'logs/111122223333/eu-central-1/meteo-feeds-prod/2026/03/14/2026-03-14-09-00-00-AB',
      body,
    );
    await writeFile(join(dir, 'day.log'), body);
  });

  afterAll(async () => {
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function partners(rows: readonly UsageRow[]): Map<string, bigint> {
    const by = new Map<string, bigint>();
    for (const r of rows) {
      const who = attribute(r.requester, r.accessPoint)?.partnerId ?? '(none)';
      by.set(who, (by.get(who) ?? 0n) + r.requests);
    }
    return by;
  }

  it('leaves every request with partner A on the local engine', async () => {
    const local = await ingestLogFile(join(dir, 'day.log'), { datasetDepth: 2 });
    expect(local.stats.malformedLines).toBe(0);
    expect(new Set(local.rows.map((r) => r.accessPoint))).toEqual(new Set(['-']));
    expect(partners(local.rows)).toEqual(new Map([['partner-a', BigInt(LINES.length)]]));
  });

  it('leaves every request with partner A on the Athena path, as the local engine does', async () => {
    const runner = new AthenaQueryRunner(localAthenaClient(server.endpoint), {
      workGroup: 'partner-audit',
      sleep: async () => {},
    });
    await runner.run(clearBatchSql(tables, '2026/03/14'), 'forged-1');
    await runner.run(insertBatchRollupSql(tables, '2026/03/14', { datasetDepth: 2 }), 'forged-1');
    const rows = await new AthenaUsageSource(runner, tables, 'forged-1').usage({
      startMs: Date.UTC(2026, 2, 1),
      endMs: Date.UTC(2026, 3, 1),
    });
    expect(new Set(rows.map((r) => r.accessPoint))).toEqual(new Set(['-']));
    expect(partners(rows)).toEqual(new Map([['partner-a', BigInt(LINES.length)]]));
    const local = await ingestLogFile(join(dir, 'day.log'), { datasetDepth: 2 });
    const key = (r: UsageRow) => `${r.slotStart}|${r.requester}|${r.accessPoint}|${r.dataset}|${r.requests}`;
    expect(rows.map(key).sort()).toEqual(local.rows.map(key).sort());
  });
});
