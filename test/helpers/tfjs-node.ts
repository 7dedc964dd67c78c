/**
 * Whether @tensorflow/tfjs-node can run here. It is an optional dependency
 * whose install script downloads libtensorflow: on a machine without that
 * download it is absent, or present without its native addon.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

export type TfjsNodeState = 'absent' | 'broken' | 'works';

const PACKAGE = '@tensorflow/tfjs-node';

/** Tried in a child process, so that this one does not start TensorFlow by asking. */
export function probeTfjsNode(): TfjsNodeState {
  try {
    createRequire(import.meta.url).resolve(PACKAGE);
  } catch {
    return 'absent';
  }
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(PACKAGE)});`], { encoding: 'utf8' });
  return r.status === 0 ? 'works' : 'broken';
}
