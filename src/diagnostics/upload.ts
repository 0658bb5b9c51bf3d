/**
 * Upload of the diagnostics folder as one workflow artifact through @actions/artifact.
 * Never throws: an upload that cannot happen (no runtime token outside GitHub's
 * runners, GitHub Enterprise Server, a full quota, a name taken, a network error)
 * comes back as a reason, so the caller warns and goes on removing resources.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

export type UploadOutcome =
  | { uploaded: true; name: string; id: number; size: number }
  | { uploaded: false; name: string; reason: string };

export function filesUnder(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...filesUnder(path));
    else if (entry.isFile()) files.push(path);
  }
  return files.sort();
}

export async function uploadFolder(dir: string, name: string, retentionDays?: number, env: NodeJS.ProcessEnv = process.env): Promise<UploadOutcome> {
  const missing = ['ACTIONS_RUNTIME_TOKEN', 'ACTIONS_RESULTS_URL'].filter((v) => !env[v]);
  if (missing.length > 0) {
    return {
      uploaded: false,
      name,
      reason: `${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not set (the runner gives them to JavaScript actions on GitHub Actions; not to local runs)`,
    };
  }
  try {
    const files = filesUnder(dir);
    // Loaded only when an upload happens: a main stage or a successful job never pays for it.
    const { DefaultArtifactClient } = await import('@actions/artifact');
    const response = await new DefaultArtifactClient().uploadArtifact(name, files, dir, retentionDays === undefined ? {} : { retentionDays });
    return { uploaded: true, name, id: response.id ?? 0, size: response.size ?? 0 };
  } catch (error) {
    return { uploaded: false, name, reason: (error as Error).message || String(error) };
  }
}
