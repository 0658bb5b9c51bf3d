/**
 * The Docker engine, through dockerode only. Every call has a deadline: a hung
 * engine becomes an error that names the call, never a job that hangs.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import Docker from 'dockerode';

export class EngineError extends Error {
  constructor(message: string, readonly cause?: unknown) {
    super(message);
    this.name = 'EngineError';
  }
}

export const DEFAULT_CALL_TIMEOUT_MS = 60_000;
export const MIN_API_VERSION = '1.41';

export interface Engine {
  docker: Docker;
  /** Runs `fn` with an abort signal that fires after `ms`; rejects with an error naming `what`. */
  call<T>(what: string, fn: (signal: AbortSignal) => Promise<T>, ms?: number): Promise<T>;
  describe: string;
}

export function engineTarget(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_HOST && env.DOCKER_HOST !== '' ? env.DOCKER_HOST : 'unix:///var/run/docker.sock';
}

function explainConnectError(error: unknown, target: string): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return `no Docker engine at ${target} (the socket does not exist): start dockerd, or set DOCKER_HOST to your engine`;
  if (code === 'EACCES') return `permission denied on ${target}: add this user to the 'docker' group or run as root, or set DOCKER_HOST`;
  if (code === 'ECONNREFUSED') return `the Docker engine at ${target} refused the connection: is dockerd running?`;
  if (error instanceof EngineError) {
    return `the Docker engine at ${target} did not answer (${error.message}): check that dockerd is healthy ('docker info') and that DOCKER_HOST points at a Docker engine`;
  }
  return `cannot reach the Docker engine at ${target}: ${(error as Error)?.message ?? String(error)}`;
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The abort signal of the engine.call a request is made in (see abortableRequests). */
const callSignal = new AsyncLocalStorage<AbortSignal>();

/**
 * Every request made inside an engine.call gets that call's abort signal unless it
 * brings its own, so a deadline also closes the hung connection. Without it, a call
 * site that forgets `abortSignal` rejects on time but leaves a socket that keeps the
 * process (a CLI, an action step) alive after the error.
 */
function abortableRequests(docker: Docker): void {
  const modem = docker.modem;
  const dial = modem.dial.bind(modem);
  modem.dial = (options, callback) => dial({ ...options, abortSignal: options.abortSignal ?? callSignal.getStore() }, callback);
}

/** NAT_NET_TRACE_CALLS=1: every engine call, its start and its duration, on stderr (where bring-up time goes, call by call). */
function makeCall(defaultMs: number) {
  return async function call<T>(what: string, fn: (signal: AbortSignal) => Promise<T>, ms = defaultMs): Promise<T> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new EngineError(`Docker engine call '${what}' did not answer within ${ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`}`));
      }, ms);
    });
    const t0 = Date.now();
    try {
      return await Promise.race([callSignal.run(controller.signal, () => fn(controller.signal)), deadline]);
    } finally {
      clearTimeout(timer);
      if (process.env.NAT_NET_TRACE_CALLS === '1') process.stderr.write(`nat-net trace: ${new Date(t0).toISOString()} ${Date.now() - t0} ms ${what}\n`);
    }
  };
}

/** Connects (honouring DOCKER_HOST: unix, tcp, ssh) and checks the engine answers and is new enough. */
/** NAT_NET_ENGINE_TIMEOUT_S overrides the per-call deadline (a slow engine, or a test that wants it short). */
export function callTimeoutFromEnv(env: NodeJS.ProcessEnv): number {
  const text = env.NAT_NET_ENGINE_TIMEOUT_S;
  const seconds = text && /^\d+$/.test(text) ? Number(text) : 0;
  return seconds >= 1 && seconds <= 3600 ? seconds * 1000 : DEFAULT_CALL_TIMEOUT_MS;
}

export async function connectEngine(env: NodeJS.ProcessEnv = process.env, callTimeoutMs = callTimeoutFromEnv(env)): Promise<Engine> {
  const target = engineTarget(env);
  let docker: Docker;
  try {
    docker = new Docker();
  } catch (error) {
    throw new EngineError(`DOCKER_HOST='${env.DOCKER_HOST}' is not usable: ${(error as Error).message}`, error);
  }
  abortableRequests(docker);
  const call = makeCall(callTimeoutMs);
  let version: Docker.DockerVersion;
  try {
    version = await call('version', (abortSignal) => (docker.version as (o: object) => Promise<Docker.DockerVersion>).call(docker, { abortSignal }), Math.min(callTimeoutMs, 15_000));
  } catch (error) {
    throw new EngineError(explainConnectError(error, target), error);
  }
  if (typeof version?.ApiVersion !== 'string' || !/^\d+(\.\d+)*$/.test(version.ApiVersion)) {
    throw new EngineError(`what answers at ${target} gave no Docker API version: is DOCKER_HOST pointing at a Docker engine?`);
  }
  if (compareVersions(version.ApiVersion, MIN_API_VERSION) < 0) {
    throw new EngineError(
      `the Docker engine at ${target} speaks API ${version.ApiVersion} (Docker ${version.Version}); nat-net needs API ${MIN_API_VERSION} (Docker 20.10) or newer: upgrade the engine`,
    );
  }
  return { docker, call, describe: `Docker ${version.Version} (API ${version.ApiVersion}) at ${target}` };
}

/**
 * At most this many container starts of one process are with the engine at once. The
 * engine does them one after another anyway (one or two a second on two cores): sending
 * it a hundred at once only makes each wait in its queue, until a call's deadline passes
 * on a healthy engine (seen at 50 peers). Waiting for a slot here does not count against
 * the deadline. (Removals gain from the engine's own parallelism and are not queued.)
 */
export const ENGINE_SLOTS = 8;

/** At most `size` of the functions given to `run` at once; the others wait their turn, in order. */
export class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(size: number) {
    this.free = size;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free -= 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free += 1;
    }
  }
}

const slotsOf = new WeakMap<Engine, Slots>();

/** engine.call for container starts, a few at a time. */
export function queuedCall<T>(engine: Engine, what: string, fn: (signal: AbortSignal) => Promise<T>, ms?: number): Promise<T> {
  let slots = slotsOf.get(engine);
  if (!slots) slotsOf.set(engine, (slots = new Slots(ENGINE_SLOTS)));
  return slots.run(() => engine.call(what, fn, ms));
}

export function isNotFound(error: unknown): boolean {
  return (error as { statusCode?: number })?.statusCode === 404;
}
