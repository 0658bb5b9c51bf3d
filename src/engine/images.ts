/**
 * Router and peer images. The defaults are tagged by a hash of their package lists
 * (images/<kind>/packages.txt), so a changed list is a new image. A missing default is
 * built once from images/<kind>/Dockerfile (needs a registry for the Debian base);
 * scripts/build-images.sh builds the same tags offline. A user-given image is used
 * as it is and never built or pulled.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pack } from 'tar-stream';
import { isNotFound, type Engine } from './engine.js';

export type ImageKind = 'router' | 'peer';

/** The repository root: the folder above this file that holds images/. */
export function actionRoot(start = dirname(fileURLToPath(import.meta.url))): string {
  let dir = start;
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'images', 'router', 'packages.txt'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`cannot find the images/ folder above ${start}; is the action checked out whole?`);
}

export function defaultImage(kind: ImageKind, root = actionRoot()): string {
  const hash = createHash('sha256').update(readFileSync(join(root, 'images', kind, 'packages.txt'))).digest('hex');
  return `nat-net-${kind}:${hash.slice(0, 12)}`;
}

export async function imageExists(engine: Engine, image: string): Promise<boolean> {
  try {
    await engine.call(`inspect image ${image}`, () => engine.docker.getImage(image).inspect());
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

export class ImageError extends Error {}

async function buildDefault(engine: Engine, kind: ImageKind, tag: string, root: string): Promise<void> {
  const context = pack();
  for (const file of ['Dockerfile', 'packages.txt']) {
    const content = readFileSync(join(root, 'images', kind, file));
    context.entry({ name: file, size: content.length, mode: 0o644 }, content);
  }
  context.finalize();
  const stream = await engine.call(`build image ${tag}`, () =>
    engine.docker.buildImage(context as unknown as NodeJS.ReadableStream, { t: tag, labels: { 'dev.nat-net.tool': 'nat-net' } }),
  );
  const output: string[] = [];
  await engine.call(
    `build image ${tag}`,
    (signal) =>
      new Promise<void>((resolve, reject) => {
        // At the deadline, close the build's stream too: an open socket would keep the process alive.
        signal.addEventListener('abort', () => (stream as unknown as { destroy?: () => void }).destroy?.());
        engine.docker.modem.followProgress(
          stream,
          (error: Error | null, events: { error?: string }[]) => {
            const failed = error?.message ?? events.find((e) => e.error)?.error;
            if (failed) reject(new ImageError(failed));
            else resolve();
          },
          (event: { stream?: string }) => event.stream && output.push(event.stream),
        );
      }),
    600_000,
  );
}

/**
 * Makes sure both images exist before anything is created. `router`/`peer` undefined
 * means the default image (built when missing).
 */
export async function ensureImages(
  engine: Engine,
  wanted: Record<ImageKind, { image: string; isDefault: boolean }>,
  log: (line: string) => void = () => {},
  root?: string,
): Promise<void> {
  const built = new Map<string, Promise<void>>();
  await Promise.all(
    (Object.keys(wanted) as ImageKind[]).map(async (kind) => {
      const { image, isDefault } = wanted[kind];
      if (await imageExists(engine, image)) return;
      const input = `${kind}-image`;
      if (!isDefault) {
        throw new ImageError(`input '${input}': the image '${image}' is not on the Docker engine; pull or build it before this step (nat-net never pulls a user-given image)`);
      }
      if (!built.has(image)) {
        log(`preparing the default ${kind} image ${image} from images/${kind}/Dockerfile`);
        built.set(image, buildDefault(engine, kind, image, root ?? actionRoot()));
      }
      try {
        await built.get(image);
      } catch (error) {
        throw new ImageError(
          `the default ${kind} image ${image} is missing and could not be built (${(error as Error).message.trim()}); ` +
            `on a machine without a registry, run scripts/build-images.sh first, or set '${input}' to an image you have`,
        );
      }
    }),
  );
}
