/**
 * A short-lived container in another container's network namespace, holding
 * NET_ADMIN only for as long as its script runs. Nodes themselves get no capability.
 */
import { LABEL } from '../plan/labels.js';
import type { Labels } from '../plan/types.js';
import { type Engine } from './engine.js';
import { logTail, removeContainer, startContainer } from './resources.js';

export interface HelperResult {
  exitCode: number;
  output: string;
}

export async function runInNamespace(
  engine: Engine,
  opts: {
    /** The container whose network namespace the helper joins; none: a fresh, empty namespace. */
    targetId?: string;
    image: string;
    script: string;
    labels: Labels;
    what: string;
    timeoutMs?: number;
    /** Return the whole output (stdout and stderr) on success too, not only the tail of a failure. */
    captureOutput?: boolean;
    /**
     * Hands the removal of the finished helper to the caller instead of waiting for it,
     * so it is off the caller's critical path; the caller must await it before it
     * reports that nothing is in flight. The promise never rejects.
     */
    removeInBackground?: (removal: Promise<void>) => void;
  },
): Promise<HelperResult> {
  const container = await engine.call(`create helper for ${opts.what}`, () =>
    engine.docker.createContainer({
      Image: opts.image,
      Cmd: ['/bin/sh', '-c', opts.script],
      Labels: { ...opts.labels, [LABEL.role]: 'helper' },
      HostConfig: {
        NetworkMode: opts.targetId === undefined ? 'none' : `container:${opts.targetId}`,
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
    const output = opts.captureOutput
      ? await logTail(engine, container.id, 100_000)
      : result.StatusCode === 0
        ? ''
        : await logTail(engine, container.id, 40);
    return { exitCode: result.StatusCode, output };
  } finally {
    const removal = removeContainer(engine, container.id).catch(() => {});
    if (opts.removeInBackground) opts.removeInBackground(removal);
    else await removal;
  }
}
