/**
 * `docker exec` of one argv in a running container, with a deadline, for reading
 * state (routers have the tools and NET_ADMIN). No shell, no TTY; stdout and stderr
 * come back merged in the order the engine delivers them.
 */
import type { Engine } from '../engine/engine.js';
import { demux } from '../engine/resources.js';

export interface ExecResult {
  /** Null when the command did not finish before the deadline. */
  exitCode: number | null;
  output: string;
}

export async function execIn(engine: Engine, containerId: string, argv: string[], timeoutMs: number): Promise<ExecResult> {
  const what = `exec '${argv.join(' ')}' in ${containerId.slice(0, 12)}`;
  const deadline = Date.now() + timeoutMs;
  const remaining = () => Math.max(1, deadline - Date.now());
  const exec = await engine.call(what, (abortSignal) =>
    engine.docker.getContainer(containerId).exec({ Cmd: argv, AttachStdout: true, AttachStderr: true, Tty: false, abortSignal } as object),
  remaining());
  const stream = (await engine.call(what, () => exec.start({ hijack: true, stdin: false }), remaining())) as NodeJS.ReadableStream & {
    destroy?: () => void;
  };
  const chunks: Buffer[] = [];
  const finished = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      stream.destroy?.();
      resolve(false);
    }, remaining());
    const done = (ok: boolean) => {
      clearTimeout(timer);
      resolve(ok);
    };
    stream.on('data', (chunk: Buffer) => chunks.push(Buffer.from(chunk)));
    stream.on('end', () => done(true));
    stream.on('close', () => done(true));
    stream.on('error', () => done(true));
  });
  const output = demux(Buffer.concat(chunks));
  if (!finished) return { exitCode: null, output };
  const info = await engine.call(what, (abortSignal) => exec.inspect({ abortSignal } as object), remaining());
  return { exitCode: info.ExitCode ?? null, output };
}
