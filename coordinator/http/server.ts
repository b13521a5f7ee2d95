// The coordinator's HTTP server on `http.listen` (HOST:PORT): GET /healthz, and routes
// other parts register (GitHub webhooks). Bodies are read whole (capped at 25 MiB, GitHub's payload limit) and handed
// over raw, since webhook signatures cover the exact bytes.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { logger } from '../../runtime/log.js';

const log = logger('http');
const MAX_BODY = 25 * 1024 * 1024;

export interface HttpRequest { method: string; path: string; headers: IncomingMessage['headers']; body: Buffer }
export interface HttpResponse { status: number; body?: unknown; headers?: Record<string, string> }
export type HttpHandler = (req: HttpRequest) => Promise<HttpResponse> | HttpResponse;

export class HttpServer {
  private routes = new Map<string, HttpHandler>();
  private server: Server | undefined;
  address = '';

  constructor(private readonly health: () => Record<string, unknown> = () => ({})) {
    this.route('GET', '/healthz', () => ({ status: 200, body: { status: 'ok', ...this.health() } }));
  }

  /** Register a handler; returns a function that removes it again. */
  route(method: string, path: string, h: HttpHandler): () => void {
    const key = `${method} ${path}`;
    this.routes.set(key, h);
    return () => { if (this.routes.get(key) === h) this.routes.delete(key); };
  }

  async listen(listen: string): Promise<string> {
    const at = listen.lastIndexOf(':');
    if (at < 0) throw new Error(`http.listen "${listen}": expected HOST:PORT`);
    const host = listen.slice(0, at).replace(/^\[|\]$/g, '');
    const port = Number(listen.slice(at + 1));
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`http.listen "${listen}": bad port`);
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) { res.writeHead(413).end(); req.destroy(); return; }
        chunks.push(c);
      });
      req.on('end', () => {
        const path = new URL(req.url ?? '/', 'http://x').pathname;
        const method = req.method ?? 'GET';
        const h = this.routes.get(`${method} ${path}`);
        const reply = (r: HttpResponse) => {
          const text = r.body === undefined ? '' : JSON.stringify(r.body);
          res.writeHead(r.status, { ...(text ? { 'content-type': 'application/json' } : {}), ...r.headers });
          res.end(text);
        };
        if (!h) { reply({ status: [...this.routes.keys()].some((k) => k.endsWith(` ${path}`)) ? 405 : 404, body: { error: 'not found' } }); return; }
        Promise.resolve()
          .then(() => h({ method, path, headers: req.headers, body: Buffer.concat(chunks) }))
          .then(reply, (err) => { log.error('HTTP handler failed', { path, err }); reply({ status: 500, body: { error: 'internal error' } }); });
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`http.listen ${listen}: ${err.message}`)));
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    const a = server.address() as AddressInfo;
    this.address = `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    log.info('HTTP server listening', { address: this.address });
    return this.address;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
