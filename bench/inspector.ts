/**
 * The service's V8 heap, read from outside through the Node inspector: a service started with
 * `inspectorEnv(port)` listens for the DevTools protocol on a loopback port, and the bench asks it
 * for a full garbage collection followed by `process.memoryUsage()`, or for a heap snapshot. The
 * service's code is not changed for this, and nothing is attached between measurements.
 */
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
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
  result?: { result?: { value?: unknown }; profile?: CpuProfile | AllocationProfile };
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
  mkdirSync(path.dirname(file), { recursive: true });
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

/** A V8 CPU profile (the `.cpuprofile` format DevTools reads). */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
    hitCount?: number;
    children?: number[];
  }[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** Samples the service's CPU (every `intervalUs`) while `run` runs; returns the profile and what `run` returned. */
export function cpuProfile<T>(port: number, run: () => Promise<T>, intervalUs = 200): Promise<[CpuProfile, T]> {
  return session(port, async (call) => {
    await call('Profiler.enable');
    await call('Profiler.setSamplingInterval', { interval: intervalUs });
    await call('Profiler.start');
    let result: T;
    try {
      result = await run();
    } catch (error) {
      await call('Profiler.stop');
      throw error;
    }
    const reply = await call('Profiler.stop');
    const profile = reply.result?.profile;
    if (!profile || !('nodes' in profile)) throw new Error('Profiler.stop returned no profile');
    return [profile, result];
  });
}

/** A sampling heap profile: bytes allocated per call site (V8's `HeapProfiler.SamplingHeapProfile`). */
export interface AllocationProfile {
  head: AllocationNode;
}
export interface AllocationNode {
  callFrame: CpuProfile['nodes'][number]['callFrame'];
  /** Bytes sampled as allocated by this frame itself. */
  selfSize: number;
  id: number;
  children: AllocationNode[];
}

/**
 * Samples what the service allocates (about one sample per `intervalBytes`), garbage included,
 * while `run` runs: where the GC's work comes from.
 */
export function allocationProfile<T>(
  port: number,
  run: () => Promise<T>,
  intervalBytes = 16_384,
): Promise<[AllocationProfile, T]> {
  return session(port, async (call) => {
    await call('HeapProfiler.enable');
    await call('HeapProfiler.startSampling', {
      samplingInterval: intervalBytes,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    let result: T;
    try {
      result = await run();
    } catch (error) {
      await call('HeapProfiler.stopSampling');
      throw error;
    }
    const reply = await call('HeapProfiler.stopSampling');
    const profile = reply.result?.profile;
    if (!profile || !('head' in profile)) throw new Error('HeapProfiler.stopSampling returned no profile');
    return [profile, result];
  });
}
