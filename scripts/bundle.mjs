// Bundles the compiled entry points (build/) into dist/ with ncc: one file each,
// runnable with no node_modules beside it. Deterministic, so CI can check dist/.
import ncc from '@vercel/ncc';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const entries = { action: 'build/src/action/index.js', cli: 'build/src/cli/index.js' };

for (const [name, input] of Object.entries(entries)) {
  const out = join('dist', name);
  rmSync(out, { recursive: true, force: true });
  const { code, assets } = await ncc(join(process.cwd(), input), { minify: false, sourceMap: false, quiet: true, target: 'es2022' });
  mkdirSync(out, { recursive: true });
  // ncc's ESM output still has CommonJS modules (ssh2's wasm loader) that read __dirname.
  const prelude =
    "import { fileURLToPath as __natnetFileURLToPath } from 'node:url';\n" +
    "import { dirname as __natnetDirname } from 'node:path';\n" +
    'const __filename = __natnetFileURLToPath(import.meta.url);\n' +
    'const __dirname = __natnetDirname(__filename);\n';
  writeFileSync(join(out, 'index.js'), code.startsWith('#!') ? code.replace(/^(#!.*\n)/, `$1${prelude}`) : prelude + code);
  for (const [file, asset] of Object.entries(assets ?? {})) {
    mkdirSync(dirname(join(out, file)), { recursive: true });
    writeFileSync(join(out, file), asset.source, { mode: asset.permissions });
  }
  console.log(`dist/${name}: ${Object.keys(assets ?? {}).length + 1} files`);
}
