/** Placeholder until the observer WebSocket lands; replaced below. */
export interface ObserverEvents {
  onStatus(text: string, kind: 'live' | 'wait' | 'error'): void;
  onAuthError(): void;
  onStep(step: number): void;
  onSpikes(step: number, spikes: Record<string, ArrayLike<number>>): void;
  onWeights(step: number, weights: Record<string, ArrayLike<number>[] | ArrayLike<number>>): void;
  onReward(step: number, reward: number): void;
  onDropped(total: number): void;
  onReset(): void;
  onEnd(reason: string): void;
}
export interface Observer {
  setPopulations(names: string[]): void;
  close(): void;
}
export function observe(_id: string, events: ObserverEvents): Observer | null {
  events.onStatus('no live stream yet', 'wait');
  return null;
}
