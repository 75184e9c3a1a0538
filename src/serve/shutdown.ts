import type { FastifyInstance } from 'fastify';

/**
 * Stops a server gracefully, with a deadline: no new connections, requests being answered finish, and
 * whatever is still open after `graceMs` (a client that sent half a header or half a body and went
 * quiet, a slow upload) is cut. Without the deadline one such client keeps the process up until its
 * request times out, or for ever while it trickles bytes, and a container stop becomes a SIGKILL.
 * Resolves with how many connections had to be cut.
 */
export async function closeWithDeadline(app: FastifyInstance, graceMs: number): Promise<{ cut: number }> {
  const server = app.server;
  const open = () => new Promise<number>((r) => server.getConnections((_e, n) => r(n ?? 0)));
  let cut = 0;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(async () => {
      cut = await open();
      // Every connection the server knows, half-received requests included.
      server.closeAllConnections();
      resolve();
    }, graceMs);
  });
  try {
    // Keep-alive connections with no request in flight would otherwise wait for their idle timeout.
    server.closeIdleConnections();
    await Promise.race([app.close(), deadline.then(() => app.close())]);
  } finally {
    clearTimeout(timer);
  }
  return { cut };
}
