/**
 * Compiles a WebAssembly module embedded as base64 (the engine reads no
 * files; scripts/embed-wasm.ts generates the constants from the .wat sources).
 */

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * The compiled module, or null where WebAssembly or the SIMD instructions
 * the kernels use are missing (validate() rejects the module there): callers
 * then keep their JavaScript loops. Compile once per process; a module is
 * immutable and shared by every instance.
 */
export function compileEmbedded(base64: string): WebAssembly.Module | null {
  if (typeof WebAssembly !== 'object') return null;
  const bytes = decodeBase64(base64);
  if (!WebAssembly.validate(bytes)) return null;
  return new WebAssembly.Module(bytes);
}
