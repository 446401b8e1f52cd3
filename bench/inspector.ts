/**
 * The service's V8 heap, read from outside through the Node inspector: a service started with
 * `inspectorEnv(port)` listens for the DevTools protocol on a loopback port, and the bench asks it
 * for a full garbage collection followed by `process.memoryUsage()`, or for a heap snapshot. The
 * service's code is not changed for this, and nothing is attached between measurements.
 */
import { createWriteStream } from 'node:fs';
import { WebSocket } from 'ws';

/** The environment that makes a spawned Node process listen for an inspector on `port` (loopback only). */
export function inspectorEnv(port: number): Record<string, string> {
  return { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --inspect=127.0.0.1:${port}`.trim() };
}

export interface HeapReading {
  /** `process.memoryUsage()` right after a full GC, in bytes. */
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  rss: number;
}

interface Reply {
  id?: number;
  method?: string;
  params?: { chunk?: string };
  result?: { result?: { value?: unknown } };
  error?: { message: string };
}

async function session<T>(
  port: number,
  use: (call: (method: string, params?: object) => Promise<Reply>, socket: WebSocket) => Promise<T>,
): Promise<T> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
    webSocketDebuggerUrl: string;
  }[];
  const target = targets[0]?.webSocketDebuggerUrl;
  if (!target) throw new Error(`no inspector target on port ${port}`);
  const socket = new WebSocket(target, { perMessageDeflate: false, maxPayload: 1 << 30 });
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  let next = 0;
  const waiting = new Map<number, (r: Reply) => void>();
  socket.on('message', (data: Buffer) => {
    const reply = JSON.parse(data.toString()) as Reply;
    if (reply.id !== undefined) waiting.get(reply.id)?.(reply);
  });
  const call = (method: string, params: object = {}) =>
    new Promise<Reply>((resolve, reject) => {
      const id = ++next;
      waiting.set(id, (r) => {
        waiting.delete(id);
        if (r.error) reject(new Error(`${method}: ${r.error.message}`));
        else resolve(r);
      });
      socket.send(JSON.stringify({ id, method, params }));
    });
  try {
    return await use(call, socket);
  } finally {
    socket.close();
  }
}

/** Two full GCs (the second collects what the first's finalisers freed), then the process's memory. */
export function heapAfterGc(port: number): Promise<HeapReading> {
  return session(port, async (call) => {
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.collectGarbage');
    const reply = await call('Runtime.evaluate', {
      expression: 'JSON.stringify(process.memoryUsage())',
      returnByValue: true,
    });
    return JSON.parse(String(reply.result?.result?.value)) as HeapReading;
  });
}

/** Writes a heap snapshot of the service (taken after a GC) to `file`; for diagnosis, not for the report. */
export function writeHeapSnapshot(port: number, file: string): Promise<void> {
  return session(port, async (call, socket) => {
    const out = createWriteStream(file);
    socket.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString()) as Reply;
      if (message.method === 'HeapProfiler.addHeapSnapshotChunk') out.write(message.params?.chunk ?? '');
    });
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    await new Promise((resolve, reject) =>
      out.end((error?: Error | null) => (error ? reject(error) : resolve(undefined))),
    );
  });
}
