/** The whole main stage over the core: images, subnets, plan, apply. Shared by the action and the CLI. */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { engineTarget, type Engine } from '../engine/engine.js';
import { defaultImage, ensureImages } from '../engine/images.js';
import { engineSubnets } from '../engine/resources.js';
import { makePlan } from '../plan/plan.js';
import type { Cidr } from '../plan/subnets.js';
import type { Plan } from '../plan/types.js';
import type { TopologySpec } from '../spec/types.js';
import { currentOwner } from './owner.js';
import type { TopologyRecord } from './record.js';
import { up, type UpHooks } from './up.js';

export function newTopologyId(name: string): string {
  return `${name}-${randomBytes(3).toString('hex')}`;
}

/** Who owns a topology: enough for a sweep to tell whether the owner is gone (see owner.ts). */
export function ownerLabel(env: NodeJS.ProcessEnv = process.env): string {
  return JSON.stringify(currentOwner(env));
}

/** The host's own IPv4 routes (not the default), when the engine runs on this host: a subnet must not shadow them. */
export function hostRoutes(env: NodeJS.ProcessEnv = process.env, routeFile = '/proc/net/route'): Cidr[] {
  if (!engineTarget(env).startsWith('unix://')) return [];
  let text: string;
  try {
    text = readFileSync(routeFile, 'utf8');
  } catch {
    return [];
  }
  const le = (hex: string) => Buffer.from(hex, 'hex').readUInt32LE(0);
  const routes: Cidr[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const mask = le(f[7]);
    if (mask === 0) continue;
    const prefix = mask.toString(2).replace(/0/g, '').length;
    const base = le(f[1]);
    routes.push({ base: base - (base % 2 ** (32 - prefix)), prefix });
  }
  return routes;
}

export interface Prepared {
  topologyId: string;
  routerImage: string;
  peerImage: string;
  imagesMs: number;
}

export async function prepareImages(engine: Engine, spec: TopologySpec, log: (l: string) => void): Promise<Pick<Prepared, 'routerImage' | 'peerImage' | 'imagesMs'>> {
  const t0 = Date.now();
  const routerImage = spec.routerImage ?? defaultImage('router');
  const peerImage = spec.peerImage ?? defaultImage('peer');
  await ensureImages(
    engine,
    { router: { image: routerImage, isDefault: !spec.routerImage }, peer: { image: peerImage, isDefault: !spec.peerImage } },
    log,
  );
  return { routerImage, peerImage, imagesMs: Date.now() - t0 };
}

const MAX_SUBNET_ATTEMPTS = 5;

function isSubnetClash(error: unknown): boolean {
  return /overlap|already (?:allocated|in use)|address pool/i.test((error as Error)?.message ?? '');
}

/**
 * Plans against the engine's current subnets and applies. When another topology on
 * the same engine took a chosen subnet in the meantime, the engine refuses it; then
 * what was created is removed and the plan is made again from a fresh view.
 */
export async function bringUp(
  engine: Engine,
  spec: TopologySpec,
  opts: { topologyId: string; images: Pick<Prepared, 'routerImage' | 'peerImage'>; hooks?: UpHooks; teardown: () => Promise<unknown>; onPlan?: (plan: Plan) => void },
): Promise<TopologyRecord> {
  for (let attempt = 1; ; attempt++) {
    const taken = [...(await engineSubnets(engine)), ...hostRoutes()];
    const plan = makePlan(spec, {
      topologyId: opts.topologyId,
      createdAt: new Date().toISOString(),
      owner: ownerLabel(),
      taken,
      routerImage: opts.images.routerImage,
      peerImage: opts.images.peerImage,
      startHint: createHash('sha256').update(`${opts.topologyId}/${attempt}`).digest().readUInt16BE(0),
    });
    opts.onPlan?.(plan);
    try {
      return await up(engine, plan, opts.hooks);
    } catch (error) {
      if (!isSubnetClash(error) || attempt >= MAX_SUBNET_ATTEMPTS) throw error;
      opts.hooks?.log?.(`a chosen subnet was taken meanwhile (${(error as Error).message}); planning again`);
      await opts.teardown();
    }
  }
}
