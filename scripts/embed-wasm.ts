/**
 * Compiles the engine's WebAssembly text sources into the TypeScript modules
 * that embed their bytes (the engine reads no files, so the bytes ship as
 * code). Run after editing a .wat: `npm run build:wasm`.
 * test/engine-wasm-kernels.test.ts compiles them again and checks that the
 * committed bytes match, so the two cannot drift apart.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The part of wabt's API used here. */
interface Wabt {
  parseWat(
    name: string,
    text: string,
    features: { simd: boolean },
  ): { resolveNames(): void; validate(): void; toBinary(options: { canonicalize_lebs: boolean }): { buffer: Uint8Array }; destroy(): void };
}

/**
 * wabt (a devDependency) is loaded only when a .wat is compiled, through a
 * specifier TypeScript does not resolve, so that `npm run build` compiles
 * this file without it: the service itself only needs the embedded bytes.
 */
async function loadWabt(): Promise<Wabt> {
  const specifier = 'wabt';
  let mod: { default: () => Promise<Wabt> };
  try {
    mod = (await import(specifier)) as typeof mod;
  } catch (err) {
    throw new Error(`compiling .wat needs the devDependency wabt (npm install --save-dev wabt@1.0.39): ${(err as Error).message}`);
  }
  return mod.default();
}

/** Each .wat and the module generated from it, relative to the repository root. */
export const WASM_SOURCES = [
  {
    wat: 'src/engine/backends/native/weight-kernels.wat',
    ts: 'src/engine/backends/native/weight-kernels-wasm.ts',
    exportName: 'WEIGHT_KERNELS_WASM_BASE64',
  },
  {
    wat: 'src/engine/backends/native/batch-kernels.wat',
    ts: 'src/engine/backends/native/batch-kernels-wasm.ts',
    exportName: 'BATCH_KERNELS_WASM_BASE64',
  },
  {
    wat: 'src/engine/backends/native/population-kernels.wat',
    ts: 'src/engine/backends/native/population-kernels-wasm.ts',
    exportName: 'POPULATION_KERNELS_WASM_BASE64',
  },
];

/** The binary module for a .wat text, with the SIMD feature (the only one the kernels use). */
export async function compileWat(name: string, text: string): Promise<Uint8Array> {
  const wabt = await loadWabt();
  const mod = wabt.parseWat(name, text, { simd: true });
  try {
    mod.resolveNames();
    mod.validate();
    return mod.toBinary({ canonicalize_lebs: true }).buffer;
  } finally {
    mod.destroy();
  }
}

export function renderModule(source: string, exportName: string, bytes: Uint8Array): string {
  return [
    `// Generated from ${source.split('/').pop()} by scripts/embed-wasm.ts (npm run build:wasm). Do not edit.`,
    `export const ${exportName} =`,
    `  '${Buffer.from(bytes).toString('base64')}';`,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  for (const s of WASM_SOURCES) {
    const bytes = await compileWat(s.wat, readFileSync(s.wat, 'utf8'));
    writeFileSync(s.ts, renderModule(s.wat, s.exportName, bytes));
    console.log(`${s.ts}: ${bytes.length} bytes from ${s.wat}`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
