/** The TypeScript client: REST (RestClient), a session's WebSocket (SessionSocket), and the multiplexed one (MultiplexSocket). */
export { RestClient, type RestClientOptions } from './rest.js';
export { SessionSocket, type CloseInfo, type SocketEvents, type SocketOptions } from './socket.js';
export { MultiplexSocket, type MultiplexOptions } from './multiplex.js';
export { type OpenOptions } from './transport.js';
export { SpikeserveClientError } from './errors.js';
