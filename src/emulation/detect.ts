/**
 * Whether the engine's kernel has the netem qdisc. Asked once per engine, before
 * anything of a topology exists, in a throw-away helper with a fresh, empty network
 * namespace (NetworkMode none): the host and every other namespace stay untouched.
 */
import type { Engine } from '../engine/engine.js';
import { runInNamespace } from '../engine/helper.js';
import type { Labels } from '../plan/types.js';

export const NETEM_PROBE_SCRIPT = 'tc qdisc add dev lo root netem delay 1ms';

const known = new WeakMap<Engine, Promise<boolean>>();

/** Reads the probe's result: true (netem works), false (the kernel lacks it), or an error for anything else. */
export function netemVerdict(exitCode: number, output: string, image: string): boolean {
  if (exitCode === 0) return true;
  if (/qdisc kind is unknown|unknown qdisc|No such file or directory|Operation not supported/i.test(output)) return false;
  if (exitCode === 127 || /not found/i.test(output)) {
    throw new Error(`cannot check for netem: the image ${image} has no working tc (exit ${exitCode}: ${output.trim()}); the router image needs iproute2`);
  }
  throw new Error(`cannot check for netem with ${image}: '${NETEM_PROBE_SCRIPT}' failed (exit ${exitCode}): ${output.trim()}`);
}

export function hasNetem(engine: Engine, image: string, labels: Labels): Promise<boolean> {
  let answer = known.get(engine);
  if (!answer) {
    answer = runInNamespace(engine, { image, script: NETEM_PROBE_SCRIPT, labels, what: 'the netem check', captureOutput: true }).then((r) =>
      netemVerdict(r.exitCode, r.output, image),
    );
    answer.catch(() => known.delete(engine));
    known.set(engine, answer);
  }
  return answer;
}
