/**
 * The local stand-ins that speak AWS wire protocols, started in-process on 127.0.0.1 port 0:
 * aws-ses-v2-local (SES), dynalite (DynamoDB), s3rver (S3), and a small fault-injecting proxy that
 * sits in front of any of them to answer the next requests with an error AWS would give.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A running stand-in: where it listens and how to stop it. */
export interface LocalServer {
  readonly endpoint: string;
  stop(): Promise<void>;
}

function endpointOf(server: Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}

/** Loads a package that ships no types, by a name TypeScript does not resolve. */
function untyped(name: string): Promise<unknown> {
  return import(name);
}

/** A CommonJS module's export, whether the loader wrapped it in `default` once or twice. */
function cjs<T>(mod: unknown): T {
  let m = mod as { default?: unknown };
  while (m && typeof m === 'object' && 'default' in m && m.default !== undefined)
    m = m.default as { default?: unknown };
  return m as T;
}

export interface SesLocal extends LocalServer {
  /** Every message the server accepted since the last clear. */
  emails(): Promise<SesStoredEmail[]>;
  clear(): Promise<void>;
}

/** What aws-ses-v2-local keeps of a message it accepted (its own parse of the raw MIME). */
export interface SesStoredEmail {
  readonly messageId: string;
  readonly from: string;
  readonly destination: { readonly to: string[]; readonly cc: string[]; readonly bcc: string[] };
  readonly subject: string;
  readonly body: { readonly text?: string; readonly html?: string };
}

export async function startSesLocal(): Promise<SesLocal> {
  const start = cjs<(c: { host: string; port: number }) => Promise<Server>>(await import('aws-ses-v2-local'));
  const server = await start({ host: '127.0.0.1', port: 0 });
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  const endpoint = endpointOf(server);
  return {
    endpoint,
    async emails() {
      const res = await fetch(`${endpoint}/store`);
      return ((await res.json()) as { emails: SesStoredEmail[] }).emails;
    },
    async clear() {
      await fetch(`${endpoint}/clear-store`, { method: 'POST' });
    },
    stop: () => close(server),
  };
}

export async function startDynalite(): Promise<LocalServer> {
  const dynalite = cjs<
    (o: { createTableMs: number; deleteTableMs: number; updateTableMs: number }) => Server
  >(await untyped('dynalite'));
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { endpoint: endpointOf(server), stop: () => close(server) };
}

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}

/** s3rver over a fresh temporary directory, with the given buckets created. */
export async function startS3rver(buckets: readonly string[]): Promise<LocalServer> {
  const directory = await mkdtemp(join(tmpdir(), 's3rver-'));
  const S3rver = cjs<new (o: Record<string, unknown>) => S3rverInstance>(await untyped('s3rver'));
  const s3 = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const address = await s3.run();
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    async stop() {
      await s3.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** How the proxy answers one request instead of the stand-in. */
export interface InjectedResponse {
  readonly status: number;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * The request reaches the stand-in, which handles it, but its answer is lost: the connection is cut
 * instead (a timeout after SES took a message looks the same to the client).
 */
export const LOST_ANSWER = Symbol('lost answer');

/**
 * Forwards requests to `target`, except that the next injected responses are answered directly:
 * a way to make a stand-in throttle or reject without changing it.
 */
export class FaultProxy implements LocalServer {
  /** What the next requests get: an injected response, or null to pass through. */
  private readonly queue: (InjectedResponse | typeof LOST_ANSWER | null)[] = [];
  /** Requests answered by the target (not injected). */
  forwarded = 0;

  private constructor(
    private readonly server: Server,
    readonly endpoint: string,
  ) {}

  static async start(target: string): Promise<FaultProxy> {
    const url = new URL(target);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new FaultProxy(server, endpointOf(server));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const injected = proxy.queue.shift() ?? null;
        if (injected !== null && injected !== LOST_ANSWER) {
          res.writeHead(injected.status, { 'content-type': 'text/xml', ...injected.headers });
          res.end(injected.body);
          return;
        }
        proxy.forwarded++;
        const upstream = request(
          { host: url.hostname, port: url.port, method: req.method, path: req.url, headers: req.headers },
          (up) => {
            if (injected === LOST_ANSWER) {
              up.resume();
              up.on('end', () => res.socket?.destroy());
              return;
            }
            res.writeHead(up.statusCode ?? 502, up.headers);
            up.pipe(res);
          },
        );
        upstream.on('error', (e) => {
          res.writeHead(502);
          res.end(String(e));
        });
        upstream.end(Buffer.concat(chunks));
      });
    });
    return proxy;
  }

  /** Answer the next `times` requests with `response`, after letting `passFirst` requests through. */
  inject(response: InjectedResponse | typeof LOST_ANSWER, times = 1, passFirst = 0): void {
    for (let i = 0; i < passFirst; i++) this.queue.push(null);
    for (let i = 0; i < times; i++) this.queue.push(response);
  }

  /** Forget what was injected and not yet used. */
  reset(): void {
    this.queue.length = 0;
  }

  stop(): Promise<void> {
    return close(this.server);
  }
}

/** An SES (query protocol) error document, as SES writes it. */
export function sesError(code: string, message: string, status = 400): InjectedResponse {
  return {
    status,
    body:
      `<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>Sender</Type>` +
      `<Code>${code}</Code><Message>${message}</Message></Error><RequestId>local-fault</RequestId></ErrorResponse>`,
  };
}
