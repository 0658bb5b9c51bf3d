/**
 * Who owns a topology, written into its labels at creation, and whether that owner is
 * still alive. The owner is the long-lived process behind the run: for the action the
 * runner's worker (the parent of the step's node process, alive for the whole job),
 * for the CLI the shell that called it. A process is identified by host, boot, pid and
 * start time, so a reused pid or a reboot is not mistaken for the owner.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

export interface Owner {
  host: string;
  boot?: string;
  pid: number;
  start?: string;
  run?: string;
  attempt?: string;
  job?: string;
  repo?: string;
}

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function bootId(): string | undefined {
  return readOr('/proc/sys/kernel/random/boot_id');
}

/** Field 22 of /proc/PID/stat: start time in clock ticks since boot. */
export function processStart(pid: number): string | undefined {
  const stat = readOr(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  const afterName = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return afterName[19];
}

/** A process started in the background has init as its parent, which never exits: then the process itself owns. */
export function ownerPid(): number {
  return process.ppid > 1 ? process.ppid : process.pid;
}

export function currentOwner(env: NodeJS.ProcessEnv = process.env, pid = ownerPid()): Owner {
  const owner: Owner = { host: hostname(), boot: bootId(), pid, start: processStart(pid) };
  if (env.GITHUB_RUN_ID) {
    owner.run = env.GITHUB_RUN_ID;
    owner.attempt = env.GITHUB_RUN_ATTEMPT ?? '1';
    owner.job = env.GITHUB_JOB ?? '';
    owner.repo = env.GITHUB_REPOSITORY ?? '';
  }
  return owner;
}

export function parseOwner(label: string | undefined): Owner | undefined {
  if (!label) return undefined;
  try {
    const owner = JSON.parse(label) as Owner;
    return typeof owner.host === 'string' && typeof owner.pid === 'number' ? owner : undefined;
  } catch {
    return undefined;
  }
}

export type OwnerVerdict = { gone: true; why: string } | { gone: false; why: string };

/** Gone only when this host can tell for sure; an owner on another host is never judged. */
export function judgeOwner(owner: Owner | undefined, here = { host: hostname(), boot: bootId() }, start = processStart): OwnerVerdict {
  if (!owner) return { gone: false, why: 'no readable owner label: left alone' };
  if (owner.host !== here.host) return { gone: false, why: `owned by host ${owner.host}: not judged from here` };
  if (owner.boot && here.boot && owner.boot !== here.boot) return { gone: true, why: 'its host has rebooted since' };
  const now = start(owner.pid);
  if (now === undefined) return { gone: true, why: `its owner process ${owner.pid} has exited` };
  if (owner.start && now !== owner.start) return { gone: true, why: `its owner process ${owner.pid} has exited (the pid now belongs to another process)` };
  return { gone: false, why: `its owner process ${owner.pid} is alive` };
}
