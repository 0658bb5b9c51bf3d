/** Conditions with deadlines: log patterns (streamed, not polled) and HTTP answers on a port. */
import { connect } from 'node:net';
import { DEFAULT_CALL_TIMEOUT_MS, type Engine } from './engine.js';

export class WaitTimeout extends Error {}

/** Resolves when `pattern` appears in the container's log; rejects if the log ends (container exit) or at the deadline. */
export async function waitForLog(engine: Engine, id: string, pattern: RegExp, timeoutMs: number, what: string, signal?: AbortSignal): Promise<void> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  // `signal` ends the wait early (the caller gave up): it then rejects like a timeout.
  const giveUp = () => controller.abort();
  if (signal?.aborted) controller.abort();
  else signal?.addEventListener('abort', giveUp, { once: true });
  try {
    // Opening the log stream is an engine call of its own: a hung engine is named as such, not as a missing pattern.
    const stream = (await engine.call(
      `follow the log of ${what}`,
      () => engine.docker.getContainer(id).logs({ follow: true, stdout: true, stderr: true, abortSignal: controller.signal } as object),
      Math.min(timeoutMs, DEFAULT_CALL_TIMEOUT_MS),
    )) as unknown as NodeJS.ReadableStream;
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      const finish = (error?: Error) => {
        (stream as unknown as { destroy?: () => void }).destroy?.();
        if (error) reject(error);
        else resolve();
      };
      stream.on('data', (chunk: Buffer) => {
        seen = (seen + chunk.toString('utf8')).slice(-65536);
        if (pattern.test(seen)) finish();
      });
      stream.on('end', () => finish(new Error(`${what}: the container stopped before its log showed /${pattern.source}/`)));
      stream.on('error', (error: Error) =>
        finish(controller.signal.aborted ? new WaitTimeout(`${what}: /${pattern.source}/ did not appear in its log within ${timeoutMs / 1000} s`) : error),
      );
      controller.signal.addEventListener('abort', () =>
        finish(new WaitTimeout(`${what}: /${pattern.source}/ did not appear in its log within ${timeoutMs / 1000} s`)),
      );
    });
  } catch (error) {
    if (controller.signal.aborted && !(error instanceof WaitTimeout)) {
      throw new WaitTimeout(`${what}: /${pattern.source}/ did not appear in its log within ${timeoutMs / 1000} s`);
    }
    throw error;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', giveUp);
    controller.abort(); // closes the request if its call above ran out of time
  }
}

/**
 * One HTTP probe: true when anything answers an HTTP request on 127.0.0.1:port. A bare
 * TCP accept is not enough, since Docker's port proxy accepts even when the container
 * does not listen (it then closes without a byte).
 */
export function httpAnswers(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('connect', () => socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'));
    socket.on('data', () => done(true));
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}

/** Polls `check` with growing pauses (25 ms to `maxPauseMs`) until it returns a value or the deadline passes. */
export async function pollUntil<T>(check: () => Promise<T | undefined>, deadline: number, signal?: AbortSignal, maxPauseMs = 250): Promise<T | undefined> {
  let pause = 25;
  for (;;) {
    const result = await check();
    if (result !== undefined) return result;
    if (Date.now() >= deadline || signal?.aborted) return undefined;
    await new Promise((r) => setTimeout(r, Math.min(pause, Math.max(0, deadline - Date.now()))));
    pause = Math.min(pause * 2, maxPauseMs);
  }
}
