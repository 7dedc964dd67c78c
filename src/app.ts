/**
 * Builds the HTTP service without listening: tests drive it with inject() or
 * listen on a port of their own, server.ts puts it on a port. Everything the app holds (its
 * session manager above all) is created here, per app.
 */
import swagger, { type SwaggerTransformObject } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TSchema } from '@sinclair/typebox';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { ErrorResponseSchema } from './api/common.js';
import { SessionDetailSchema, SessionSummarySchema } from './api/sessions.js';
import { StepResultSchema } from './api/step.js';
import type { Config } from './config.js';
import { DEFAULT_ENGINE_LIMITS, NetworkSpecSchema, ResolvedNetworkSchema, SnapshotSchema } from './engine/index.js';
import { SpikeserveError } from './errors.js';
import { errorHandler, notFoundHandler } from './http/errors.js';
import { genReqId, loggerOptions, registerRequestLogging } from './http/logging.js';
import { named } from './http/plugin-name.js';
import { bodyIsOptional, typeboxValidatorCompiler } from './http/validation.js';
import { registerJsonParser } from './http/json-body.js';
import { lazySerializerFactory } from './http/serializers.js';
import { ROUTER_OPTIONS } from './http/route-table.js';
import { SessionManager, type RestoreReport, type SessionManagerOptions } from './sessions/manager.js';
import type { SessionHooks } from './sessions/session.js';
import { registerAuth } from './http/auth.js';
import { registerHeaders } from './http/headers.js';
import { registerHostCheck } from './http/hosts.js';
import { publicScope } from './http/route-access.js';
import { Metrics } from './metrics.js';
import { autoMemoryBytes, OverloadMonitor, type LoadReading } from './overload.js';
import { openDataDir, type OpenReport } from './persist/open.js';
import { HostPolicy } from './security/hosts.js';
import { KeyRing } from './security/keys.js';
import { OriginPolicy } from './security/origins.js';
import { StepBudget } from './security/quota.js';
import { TicketBook } from './security/tickets.js';
import { UPGRADE_QUERY_PARAMS, upgradeAuthorizer } from './security/upgrade.js';
import metricsRoutes from '../routes/metrics.js';
import clusterRoutes from '../routes/cluster.js';
import { startCluster } from './cluster/start.js';
import { ClusterStepBudget } from './cluster/step-quota.js';
import type { ClusterNode } from './cluster/node.js';
import { registerClusterRouting, registerNodeHeader, upgradeRouter } from './cluster/routing.js';
import { maxSnapshotBytes } from './http/binary.js';
import ticketRoutes from '../routes/tickets.js';
import batchRoutes from '../routes/batch.js';
import { attachWebSocket } from './ws/plugin.js';
import type { WebSocketService } from './ws/service.js';
import dashboardRoutes from '../routes/dashboard.js';
import docsRoutes from '../routes/docs.js';
import healthRoutes from '../routes/health.js';
import resetRoutes from '../routes/reset.js';
import sessionRoutes from '../routes/sessions.js';
import snapshotRoutes from '../routes/snapshot.js';
import stateRoutes from '../routes/state.js';
import stepRoutes from '../routes/step.js';
import weightRoutes from '../routes/weights.js';

/** Schemas registered once and pointed at with ref(); openapi.yaml lists them under components. */
const SHARED_SCHEMAS: TSchema[] = [
  ErrorResponseSchema,
  NetworkSpecSchema,
  ResolvedNetworkSchema,
  SnapshotSchema,
  SessionSummarySchema,
  SessionDetailSchema,
  StepResultSchema,
];

export const API_DESCRIPTION = [
  'Spiking-neural-network sessions for reinforcement learning.',
  'Create a session from a network spec (LIF populations, dense connections, NoOp/STDP/MSTDP learning rules), then step it with input currents and rewards and read back spikes, potentials and weights. The model (equations, parameter defaults, update order, reward timing, bounds) is described in docs/model.md of the spikeserve repository.',
  'Every failure has the shape ErrorResponse, with a stable code from the catalogue listed there.',
  'The WebSockets, a session\'s own (/v1/sessions/{id}/ws) and the multiplexed one that drives many sessions (/v1/ws), are described in AsyncAPI 3.0 at [/asyncapi.yaml](/asyncapi.yaml).',
].join('\n\n');

export interface AppOptions {
  /** pino options, or false for no logging; default: the config's LOG_LEVEL to stdout. */
  logger?: FastifyServerOptions['logger'];
  /** Overrides for the session manager (a fake clock in tests). */
  sessions?: Partial<Pick<SessionManagerOptions, 'now'>>;
  /** Overload readings in place of the process's own (tests). */
  overload?: { sample?: () => LoadReading; intervalMs?: number };
  /** The steps-per-second quota's clock, in ms (a fake clock in tests); default performance.now. */
  quotaClock?: () => number;
}

declare module 'fastify' {
  interface FastifyInstance {
    sessions: SessionManager;
    metrics: Metrics;
    tickets: TicketBook;
    overload: OverloadMonitor;
    keys: KeyRing;
    origins: OriginPolicy;
    /** What the start found in DATA_DIR (null: memory only). */
    restoreReport: RestoreReport | null;
    /** The WebSocket endpoint /v1/sessions/{id}/ws: its sockets and counters. */
    websockets: WebSocketService;
    /** This server as a node of a cluster (REDIS_URL); null when it runs on its own. */
    cluster: ClusterNode | null;
    /** True once close() has begun: /readyz answers 503 and new requests get SHUTTING_DOWN. */
    isClosing(): boolean;
  }
}

export async function buildApp(config: Config, options: AppOptions = {}): Promise<FastifyInstance> {
  const handleError = errorHandler(config.bodyLimitBytes);
  const app = Fastify({
    logger: options.logger ?? loggerOptions(config.logLevel),
    // fastify's two lines per request are replaced by registerRequestLogging's one.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId,
    routerOptions: ROUTER_OPTIONS,
    bodyLimit: config.bodyLimitBytes,
    // fastify's own 503 while closing has another shape; the onRequest hook below answers instead.
    return503OnClosing: false,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
    schemaController: { compilersFactory: { buildSerializer: lazySerializerFactory() } },
    // Errors before routing (a malformed URL) get the same shape as the rest.
    frameworkErrors: (err, request, reply) => handleError(err, request, reply),
  });

  // Sessions on disk: open DATA_DIR (moving a damaged database aside) before anything else.
  let opened: OpenReport | null = null;
  if (config.dataDir !== '') opened = openDataDir(config.dataDir, config.persistSync);
  const keys = new KeyRing(config.apiKeys);
  const origins = new OriginPolicy(config.corsOrigins);
  const hosts = new HostPolicy(config.allowedHosts, keys.enabled);
  const overload = new OverloadMonitor({
    eventLoopDelayMs: config.overloadEventLoopDelayMs,
    memoryBytes: config.overloadMemoryMb === 'auto' ? autoMemoryBytes() : config.overloadMemoryMb * 2 ** 20,
    heavyStepCost: config.overloadHeavyStepCost,
    ...options.overload,
  });
  const budget = new StepBudget(config.quotaStepsPerS, config.quotaStepsBurst, options.quotaClock);
  // In a cluster the key's bucket is shared through Redis once the node has joined.
  let clusterBudget: ClusterStepBudget | null = null;
  let metrics: Metrics | null = null;
  const hooks: SessionHooks = {
    admitStep: (session, steps, cost) => {
      overload.admitStep(cost);
      if (clusterBudget !== null) return clusterBudget.take(session.owner, steps);
      budget.take(session.owner ?? '', steps);
    },
    stepDone: (steps, seconds) => metrics?.stepDone(steps, seconds),
  };
  const sessions = new SessionManager({
    limits: {
      maxNeurons: config.maxNeurons,
      maxSynapses: config.maxSynapses,
      maxPopulations: config.maxPopulations,
      maxConnections: config.maxConnections,
      maxBatchSize: config.maxBatchSize,
      maxStepsPerCall: config.maxStepsPerCall,
      maxSpikeRecordsPerCall: config.maxSpikeRecords,
    },
    maxSessions: config.maxSessions,
    maxTotalSynapses: config.maxTotalSynapses,
    idleTimeoutMs: config.sessionIdleTimeoutS * 1000,
    retentionMs: config.sessionRetentionS * 1000,
    sliceMs: config.stepSliceMs,
    log: app.log,
    store: opened?.store ?? null,
    compactSteps: config.persistCompactSteps,
    quota: { sessions: config.quotaSessions, synapses: config.quotaSynapses },
    hooks,
    admitCreate: () => overload.admitCreate(),
    onCommit: (m) => metrics?.committed(m),
    ...options.sessions,
  });
  metrics = new Metrics(sessions, overload);
  const restoreReport = opened ? restoreFromDisk(app, sessions, opened) : null;
  if (restoreReport) metrics.restored(restoreReport);
  // Cluster mode (REDIS_URL): the sessions just restored are claimed in the directory before anything is served.
  const cluster = config.redisUrl === '' ? null : await startCluster(app, config, sessions);
  if (cluster !== null && budget.enabled) clusterBudget = new ClusterStepBudget(cluster.redis, budget, app.log);
  if (!keys.enabled) {
    app.log.warn({ host: config.host }, 'API_KEYS is not set: no authentication; anyone who can reach this address can use every session');
  }
  const tickets = new TicketBook({ ttlMs: config.wsTicketTtlS * 1000 });
  let closing = false;
  app.decorate('sessions', sessions);
  app.decorate('metrics', metrics);
  app.decorate('tickets', tickets);
  app.decorate('overload', overload);
  app.decorate('keys', keys);
  app.decorate('origins', origins);
  app.decorate('restoreReport', restoreReport);
  app.decorate('cluster', cluster);
  app.decorate('isClosing', () => closing);
  app.decorateReply('errorCode', undefined);

  // Only JSON bodies: anything else gets 415 rather than reaching a route as a string.
  app.removeContentTypeParser('text/plain');
  registerJsonParser(app, config.maxJsonDepth);
  for (const s of SHARED_SCHEMAS) app.addSchema(s);
  app.setValidatorCompiler(typeboxValidatorCompiler(SHARED_SCHEMAS));
  app.setErrorHandler(handleError);
  app.setNotFoundHandler(notFoundHandler);
  registerRequestLogging(app);
  if (cluster) registerNodeHeader(app, cluster);
  registerHostCheck(app, hosts);

  app.addHook('onRequest', (request, _reply, done) => {
    if (closing && request.routeOptions.url !== '/healthz') done(new SpikeserveError('SHUTTING_DOWN', 'the server is shutting down and takes no new requests'));
    else done();
  });
  registerHeaders(app, origins);
  registerAuth(app, keys, sessions);
  // In a cluster, most requests for a session on another node are passed on before the hooks above run, after the same checks (cluster/routing.ts: a check added above is added there).
  if (cluster) {
    const maxBodyBytes = Math.max(config.bodyLimitBytes, maxSnapshotBytes({ ...DEFAULT_ENGINE_LIMITS, ...sessions.limits }));
    registerClusterRouting(app, cluster, { maxBodyBytes, hosts, keys, isClosing: () => closing });
  }
  const counted = metrics;
  app.addHook('onResponse', (_request, reply, done) => {
    if (reply.errorCode !== undefined) counted.rejectedRequest(reply.errorCode, 'http');
    done();
  });
  // Node closes the keep-alive connections that are idle when the server
  // closes, but a connection busy then stays open once its response is sent,
  // until its keep-alive timeout; sweep those up so that close() ends soon
  // after the last response.
  let idleSweep: NodeJS.Timeout | null = null;
  app.addHook('preClose', (done) => {
    closing = true;
    if (app.server.listening) {
      idleSweep = setInterval(() => app.server.closeIdleConnections(), 50);
      idleSweep.unref();
    }
    done();
  });
  // After the server stops accepting and in-flight requests are answered:
  // let queued commands finish, then release every session.
  app.addHook('onClose', async () => {
    overload.stop();
    // Final snapshots get half the shutdown time at most: the log already holds every change.
    await sessions.close({ snapshotDeadline: performance.now() + config.shutdownTimeoutS * 500 });
    if (idleSweep) clearInterval(idleSweep);
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'spikeserve', version: '1', description: API_DESCRIPTION },
      tags: [
        { name: 'sessions', description: 'Create, list, describe and delete sessions.' },
        { name: 'run', description: 'Step the network, reward it, reset it.' },
        { name: 'weights', description: 'Read and write connection weights.' },
        { name: 'state', description: 'Inspect and export a session.' },
        { name: 'health', description: 'Probes and this description.' },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    transformObject: (doc) => markOptionalBodies(('openapiObject' in doc ? doc.openapiObject : doc.swaggerObject) as OpenApiDoc) as ReturnType<SwaggerTransformObject>,
  });
  // Served without an API key: the probes and the contract, and the pages
  // (which then call the API like any client). Every other route needs one.
  await app.register(
    publicScope(async (scope) => {
      await scope.register(named(healthRoutes), { sessions, isClosing: () => closing });
      await scope.register(named(docsRoutes));
    }),
  );
  await app.register(
    publicScope(
      async (scope) => {
        await scope.register(swaggerUi, { routePrefix: '/docs' });
        await scope.register(named(dashboardRoutes), {});
      },
      { pages: true },
    ),
  );
  await app.register(named(sessionRoutes), { prefix: '/v1', sessions, cluster });
  for (const routes of [stepRoutes, resetRoutes, weightRoutes, stateRoutes, snapshotRoutes]) {
    await app.register(named(routes), { prefix: '/v1', sessions });
  }
  await app.register(named(batchRoutes), { prefix: '/v1', sessions, cluster, maxItems: config.maxBatchItems, bodyLimit: config.bodyLimitBytes });
  await app.register(named(ticketRoutes), { prefix: '/v1', sessions, tickets });
  await app.register(named(metricsRoutes), { metrics });
  await app.register(named(clusterRoutes), { prefix: '/v1', cluster });
  // Every upgrade passes the same checks as a /v1 request: host, origin, then ticket or key, then the session's owner.
  const websockets = attachWebSocket(app, sessions, config, {
    authorizeUpgrade: upgradeAuthorizer({ keys, tickets, origins, hosts, sessions }),
    extraQueryParams: UPGRADE_QUERY_PARAMS,
    onError: (code) => counted.rejectedRequest(code, 'ws'),
  }, cluster ? upgradeRouter(cluster) : undefined);
  metrics.webSockets(() => websockets.stats());
  cluster?.useSockets((id, message) => websockets.disconnectSession(id, message));
  app.decorate('websockets', websockets);
  await app.ready();
  // Only now: building the app blocks the loop, which is not load.
  overload.start();
  return app;
}

type OpenApiDoc = {
  paths?: Record<string, Record<string, { requestBody?: { required?: boolean; content?: Record<string, { schema?: { required?: unknown; minProperties?: unknown } }> } }>>;
};

/** @fastify/swagger marks every request body required; a body whose fields are all optional may be left out. */
function markOptionalBodies<T extends OpenApiDoc>(doc: T): T {
  for (const ops of Object.values(doc.paths ?? {})) {
    for (const op of Object.values(ops)) {
      const body = op.requestBody;
      const schema = body?.content?.['application/json']?.schema;
      if (body && schema && bodyIsOptional(schema)) body.required = false;
    }
  }
  return doc;
}

/** Restores the sessions in DATA_DIR and says what happened in the log. */
function restoreFromDisk(app: FastifyInstance, sessions: SessionManager, opened: OpenReport): RestoreReport {
  const t0 = performance.now();
  const file = opened.store.file;
  if (opened.fileDamage.length > 0) {
    app.log.error(
      { file, problems: opened.fileDamage, movedTo: opened.movedTo, lost: opened.lost },
      `the database was damaged: it was moved to ${opened.movedTo} and a new one holds the ${'sessions that could be read in full'}`,
    );
  }
  if (opened.tailDamage) app.log.error({ file, problem: opened.tailDamage }, 'the tail file of the log was damaged or missing: see problem for what was lost');
  for (const l of opened.loaded.tailLosses ?? []) app.log.error({ sessionId: l.id, reason: l.reason }, 'session restored short of its last commands: they were in a damaged stretch of the tail file');
  const report = sessions.restore(opened.loaded);
  report.fileDamage = opened.fileDamage;
  report.damaged.unshift(...opened.lost);
  if (opened.movedTo) report.preservedCopy ??= opened.movedTo;
  for (const d of report.damaged) app.log.error({ sessionId: d.id, reason: d.reason, preservedCopy: report.preservedCopy }, 'session damaged on disk: not restored');
  for (const k of report.kept) app.log.warn({ sessionId: k.id, reason: k.reason }, 'session left on disk, not loaded now: it is listed, and its next request loads it if it can');
  app.log.info({ file, restored: report.restored, damaged: report.damaged.length, kept: report.kept.length, ms: Math.round(performance.now() - t0) }, 'sessions restored');
  return report;
}
