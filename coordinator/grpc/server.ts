// The coordinator's gRPC server: both services on one listener.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { ChatService } from '../../proto/gen/orch/v1/chat.js';
import { CoordinatorService } from '../../proto/gen/orch/v1/coordinator.js';
import { NodeGatewayService } from '../../proto/gen/orch/v1/node.js';
import type { Coordinator } from '../coordinator.js';
import { chatApi } from './chat-api.js';
import { coordinatorApi, type ServerFacts } from './coordinator-api.js';
import { nodeGateway } from './node-gateway.js';

export interface GrpcServer {
  address: string;
  stop(): Promise<void>;
}

/** `credentials`: TLS in a fleet (coordinator/tls/authority.ts); plaintext otherwise (the embedded default). */
export async function startGrpcServer(c: Coordinator, listen: string, facts: Omit<ServerFacts, 'listen'>, credentials = ServerCredentials.createInsecure()): Promise<GrpcServer> {
  const server = new Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  let address = listen;
  server.addService(CoordinatorService, coordinatorApi(c, { ...facts, listen: () => address }));
  server.addService(NodeGatewayService, nodeGateway(c, facts.access ?? facts.token));
  server.addService(ChatService, chatApi(c, facts.access ?? facts.token));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(listen, credentials, (err, p) => (err ? reject(new Error(`cannot listen on ${listen}: ${err.message}`)) : resolve(p))));
  const host = listen.slice(0, listen.lastIndexOf(':'));
  address = `${host}:${port}`;
  return {
    address,
    stop: () => new Promise<void>((resolve) => {
      const t = setTimeout(() => { server.forceShutdown(); resolve(); }, 3_000);
      server.tryShutdown(() => { clearTimeout(t); resolve(); });
    }),
  };
}
