/**
 * Scripts in a container's network namespace, run by a short-lived helper that holds
 * NET_ADMIN only while its script runs (as engine/helper.ts does at bring-up), but
 * returning the script's output as well: emulation changes read the state they change.
 */
import type { Engine } from '../engine/engine.js';
import { logTail, removeContainer, startContainer } from '../engine/resources.js';
import { LABEL } from '../plan/labels.js';
import type { Labels } from '../plan/types.js';

export interface ScriptResult {
  exitCode: number;
  output: string;
}

export async function runScript(
  engine: Engine,
  opts: {
    /** `container:<id>` to join a container's namespace, or `none` for a fresh, empty one. */
    networkMode: string;
    image: string;
    script: string;
    labels: Labels;
    what: string;
    timeoutMs?: number;
  },
): Promise<ScriptResult> {
  const container = await engine.call(`create helper for ${opts.what}`, () =>
    engine.docker.createContainer({
      Image: opts.image,
      Cmd: ['/bin/sh', '-c', opts.script],
      Labels: { ...opts.labels, [LABEL.role]: 'helper' },
      HostConfig: {
        NetworkMode: opts.networkMode,
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
    return { exitCode: result.StatusCode, output: await logTail(engine, container.id, 200) };
  } finally {
    await removeContainer(engine, container.id).catch(() => {});
  }
}
