/** Bytes allocated by a piece of code, from V8's sampling heap profiler (collected objects included). */
import { Session } from 'node:inspector';

function post<T>(s: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => s.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res as T))));
}

interface ProfileNode {
  selfSize: number;
  children?: ProfileNode[];
}

export async function bytesAllocated(fn: () => void): Promise<number> {
  const session = new Session();
  session.connect();
  try {
    await post(session, 'HeapProfiler.startSampling', {
      samplingInterval: 32,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    fn();
    const { profile } = await post<{ profile: { head: ProfileNode } }>(session, 'HeapProfiler.stopSampling');
    let total = 0;
    const walk = (n: ProfileNode) => {
      total += n.selfSize;
      n.children?.forEach(walk);
    };
    walk(profile.head);
    return total;
  } finally {
    session.disconnect();
  }
}
