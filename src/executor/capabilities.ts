/** The capabilities this process can hand to a step: its bounding set (RUN --security=insecure gets all of them). */
import { readFile } from 'node:fs/promises';
import { ALL_CAPABILITIES } from './spec.js';

let cached: Promise<string[]> | undefined;

/** Names of the capabilities in /proc/self/status CapBnd (bit n = ALL_CAPABILITIES[n]); Docker's set if unreadable. */
export function boundingCapabilities(): Promise<string[]> {
  return (cached ??= readFile('/proc/self/status', 'utf8').then(
    (text) => {
      const hex = /^CapBnd:\s*([0-9a-f]+)$/m.exec(text)?.[1];
      if (!hex) return [...ALL_CAPABILITIES];
      const bits = BigInt('0x' + hex);
      return ALL_CAPABILITIES.filter((_, i) => (bits >> BigInt(i)) & 1n);
    },
    () => [...ALL_CAPABILITIES],
  ));
}
