/**
 * Puts an app in a cluster (REDIS_URL set): connects the node, registers it
 * once the server listens (under ADVERTISE_URL, or the address it listens
 * on), and leaves Redis when the app closes.
 */
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import type { SessionManager } from '../sessions/manager.js';
import { ClusterNode } from './node.js';

export async function startCluster(app: FastifyInstance, config: Config, sessions: SessionManager): Promise<ClusterNode> {
  const node = await ClusterNode.start({
    redisUrl: config.redisUrl,
    nodeId: config.nodeId,
    advertiseUrl: config.advertiseUrl,
    heartbeatS: config.clusterHeartbeatS,
    dataDir: config.dataDir,
    capacitySynapses: config.maxTotalSynapses,
    quota: { sessions: config.quotaSessions, synapses: config.quotaSynapses },
    sessions,
    log: app.log,
  });
  app.log.info({ node: node.id }, 'cluster mode: this server is a node of the cluster in REDIS_URL');
  app.addHook('onListen', async () => {
    const address = app.server.address() as AddressInfo;
    // A wildcard address is no address to give others: the machine's name is.
    const host = address.address === '0.0.0.0' || address.address === '::' ? hostname() : address.address;
    await node.listening({ host, port: address.port });
    app.log.info({ node: node.id, url: node.selfUrl() }, 'registered in the cluster');
  });
  app.addHook('onClose', async () => node.close());
  return node;
}
