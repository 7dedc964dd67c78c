/**
 * The live dashboard (dashboard/, built into dist/dashboard by `npm run
 * build`): one page at /dashboard and /dashboard/{id} that picks its view from
 * the path, and its assets under /dashboard/assets/. The page uses the public
 * API like any client (REST, and the session's WebSocket as an observer), so
 * it needs no routes of its own beyond its files, and none of these appear in
 * openapi.yaml.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** Where `npm run build` writes the page: dist/dashboard, beside this file's dist/routes. */
export const DASHBOARD_DIR = fileURLToPath(new URL('../dashboard/', import.meta.url));

export interface DashboardOptions {
  /** The built page's folder; default DASHBOARD_DIR. */
  dir?: string;
}

const NOT_BUILT_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>spikeserve dashboard</title></head>
<body><h1>The dashboard is not built</h1><p>This server was compiled without the dashboard's browser files.
Run <code>npm run build</code> (or start the service with <code>npm start</code>, which builds it) and reload.</p></body></html>`;

export default async function dashboardRoutes(app: FastifyInstance, opts: DashboardOptions): Promise<void> {
  const dir = opts.dir ?? DASHBOARD_DIR;
  const built = existsSync(join(dir, 'index.html'));
  if (!built) app.log.warn({ dir }, 'the dashboard is not built (run npm run build): /dashboard explains this to visitors');

  let page: Buffer | null = null;
  const sendPage = async (reply: FastifyReply) => {
    if (!page) {
      try {
        page = await readFile(join(dir, 'index.html'));
      } catch {
        return reply.code(503).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(NOT_BUILT_PAGE);
      }
    }
    // The page is the same for every session; the script reads the id from the path.
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(page);
  };

  const hidden = { schema: { hide: true } };
  app.get('/dashboard', hidden, (_request, reply) => sendPage(reply));
  app.get('/dashboard/', hidden, (_request, reply) => sendPage(reply));
  app.get<{ Params: { id: string } }>('/dashboard/:id', hidden, (_request, reply) => sendPage(reply));

  if (built) {
    await app.register(fastifyStatic, {
      root: dir,
      prefix: '/dashboard/assets/',
      decorateReply: false,
      index: false,
      // Asset names carry no content hash: revalidate, so a rebuilt page is never mixed with stale scripts.
      cacheControl: true,
      maxAge: 0,
      etag: true,
      lastModified: true,
    });
  }
}
