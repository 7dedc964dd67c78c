/** The TypeScript client: REST (RestClient) and a session's WebSocket (SessionSocket). */
export { RestClient, type RestClientOptions } from './rest.js';
export { SessionSocket, type CloseInfo, type SocketEvents, type SocketOptions } from './socket.js';
export { SpikeserveClientError } from './errors.js';
