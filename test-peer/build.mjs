// Builds dist/test-peer/nat-net-test-peer.cjs from test-peer/nat-net-test-peer.ts:
// tsc into a temp folder, then one executable file with a shebang. Same input, same bytes
// (CI compares dist/ with a fresh build). Run from anywhere: node test-peer/build.mjs
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const output = join(root, 'dist', 'test-peer', 'nat-net-test-peer.cjs');

/** Compiles into `outDir`; tsc prints its own errors. Returns whether it succeeded. */
function compile(outDir) {
  const tsc = join('node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', join('test-peer', 'tsconfig.json'), '--outDir', outDir], {
    cwd: root,
    stdio: 'inherit',
  });
  return result.status === 0;
}

const tmp = mkdtempSync(join(tmpdir(), 'nat-net-test-peer-'));
try {
  if (!compile(tmp)) {
    process.stderr.write('test-peer/build.mjs: tsc failed; dist/test-peer left as it was\n');
    process.exitCode = 1;
  } else {
    // Any shebang tsc carried over is replaced by ours, so there is exactly one.
    const js = readFileSync(join(tmp, 'nat-net-test-peer.js'), 'utf8').replace(/^#!.*\n/, '');
    mkdirSync(dirname(output), { recursive: true });
    writeFileSync(output, `#!/usr/bin/env node\n${js}`);
    chmodSync(output, 0o755); // writeFileSync's mode is masked by the umask; chmod is not
    process.stdout.write(`built ${relative(root, output)}\n`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
