import Fastify, { type FastifyInstance } from 'fastify';
import type { WebContext } from './context.js';

/**
 * The LGWAN-side web server. This build serves only its health check: the staff view (sanitized
 * downloads, previews, PPAP unlock, original requests) and the operator dashboard are separate work items.
 * It must never read the originals area: its context (web/context.ts) holds nothing that could.
 */
export function buildWeb(_ctx: Pick<WebContext, 'config' | 'log' | 'sanitized'>): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/healthz', async () => ({ ok: true }));
  return app;
}
