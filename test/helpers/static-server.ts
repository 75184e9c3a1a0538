import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
};

export interface StaticServer {
  base: string;
  /** Every request: method, path and the status answered. */
  log: { path: string; status: number }[];
  close(): Promise<void>;
}

/**
 * A plain static file server over `root` (with ETags, so conditional requests get 304) for browser tests
 * of the library's browser build, without agegender's own server. `extra` answers paths from memory.
 */
export async function startStaticServer(
  root: string,
  extra: Record<string, Buffer | string> = {},
): Promise<StaticServer> {
  const log: StaticServer['log'] = [];
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (status: number, body?: Buffer | string, type = 'text/plain') => {
      log.push({ path: url.pathname, status });
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    const file = path.join(root, decodeURIComponent(url.pathname));
    let body: Buffer | string | undefined = extra[url.pathname];
    if (body === undefined) {
      if (!file.startsWith(root + path.sep)) return send(403);
      body = await fs.readFile(file).catch(() => undefined);
    }
    if (body === undefined) return send(404, 'not found');
    const etag = `"${createHash('sha1').update(body).digest('hex')}"`;
    if (req.headers['if-none-match'] === etag) {
      log.push({ path: url.pathname, status: 304 });
      res.writeHead(304, { etag });
      return res.end();
    }
    log.push({ path: url.pathname, status: 200 });
    res.writeHead(200, {
      'content-type': TYPES[path.extname(url.pathname)] ?? 'application/octet-stream',
      etag,
    });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://localhost:${port}`,
    log,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
