/**
 * A short-lived container in another container's network namespace, holding
 * NET_ADMIN only for as long as its script runs. Nodes themselves get no capability.
 */
import type { Labels } from '../plan/types.js';
import { type Engine } from './engine.js';
import { logTail, removeContainer, startContainer } from './resources.js';

export interface HelperResult {
  exitCode: number;
  output: string;
}

export async function runInNamespace(
  engine: Engine,
  opts: { targetId: string; image: string; script: string; labels: Labels; what: string; timeoutMs?: number },
): Promise<HelperResult> {
  const container = await engine.call(`create helper for ${opts.what}`, () =>
    engine.docker.createContainer({
      Image: opts.image,
      Cmd: ['/bin/sh', '-c', opts.script],
      Labels: { ...opts.labels, 'dev.nat-net.role': 'helper' },
      HostConfig: {
        NetworkMode: `container:${opts.targetId}`,
        CapDrop: ['ALL'],
        CapAdd: ['NET_ADMIN'],
        SecurityOpt: ['no-new-privileges'],
      },
    }),
  );
  try {
    await startContainer(engine, container.id, `helper for ${opts.what}`);
    const result = (await engine.call(
      `wait for helper of ${opts.what}`,
      (abortSignal) => container.wait({ abortSignal } as object),
      opts.timeoutMs ?? 30_000,
    )) as { StatusCode: number };
    const output = result.StatusCode === 0 ? '' : await logTail(engine, container.id, 40);
    return { exitCode: result.StatusCode, output };
  } finally {
    await removeContainer(engine, container.id).catch(() => {});
  }
}
