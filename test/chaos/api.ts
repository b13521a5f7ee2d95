// The chaos runner's gRPC client of the coordinator: tries each coordinator address
// in turn (a leader and a standby), so it follows a failover.
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { CoordinatorClient, type ListTasksResponse } from '../../proto/gen/orch/v1/coordinator.js';
import type { Task } from '../../proto/gen/orch/v1/types.js';
import { tokenMetadata } from '../../runtime/grpc-auth.js';

export class ChaosApi {
  private clients: CoordinatorClient[];

  constructor(addresses: string[], private readonly token: string) {
    this.clients = addresses.map((a) => new CoordinatorClient(a, credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 * 1024 * 1024 }));
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
