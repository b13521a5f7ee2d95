// The chaos runner's gRPC client of the coordinator: tries each coordinator address
// in turn (a leader and a standby), so it follows a failover.
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { CoordinatorClient, type ListTasksResponse } from '../../proto/gen/orch/v1/coordinator.js';
import type { Task } from '../../proto/gen/orch/v1/types.js';
import { tokenMetadata } from '../../runtime/grpc-auth.js';
import { channelCredentials, channelOptions, fetchPinnedCaFromAny, type ClientTls } from '../../runtime/tls/channel.js';
import { parseJoinToken } from '../../runtime/tls/join-token.js';

export class ChaosApi {
  private clients: CoordinatorClient[];

  private constructor(addresses: string[], private readonly token: string, tls: ClientTls | undefined) {
    this.clients = addresses.map((a) => new CoordinatorClient(a, tls ? channelCredentials(tls) : credentials.createInsecure(),
      { ...channelOptions(tls), 'grpc.max_receive_message_length': 64 * 1024 * 1024 }));
  }

  /** A client as a user's CLI is one: given a join token, it pins the cluster CA and speaks TLS. */
  static async connect(addresses: string[], token: string): Promise<ChaosApi> {
    const jt = parseJoinToken(token);
    const tls = jt ? { ca: await fetchPinnedCaFromAny(addresses, jt.caFingerprint) } : undefined;
    return new ChaosApi(addresses, jt ? jt.secret : token, tls);
  }

  private async call<Req, Res>(method: string, req: Req, timeoutMs = 5_000): Promise<Res> {
    let last: unknown;
    for (const c of this.clients) {
      try {
        return await new Promise<Res>((resolve, reject) => {
          const fn = (c as unknown as Record<string, (r: Req, md: unknown, o: unknown, cb: (e: ServiceError | null, r: Res) => void) => void>)[method];
          fn.call(c, req, tokenMetadata(this.token), { deadline: Date.now() + timeoutMs }, (e, r) => (e ? reject(e) : resolve(r)));
        });
      } catch (err) {
        last = err;
      }
    }
    throw last;
  }

  addTask(title: string, agent: string): Promise<Task> {
    return this.call('addTask', { title, body: '', agent, complexity: '', labels: [], project: '' });
  }

  async listTasks(): Promise<Task[]> {
    return (await this.call<object, ListTasksResponse>('listTasks', { status: '', project: '' })).tasks;
  }

  getTask(id: number): Promise<Task> {
    return this.call('getTask', { id });
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}
