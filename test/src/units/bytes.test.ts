import { describe, expect, it } from 'vitest';
import { binarySize, decimalSize, exactBinarySize } from '../../../src/units/bytes.js';

describe('sizes for people', () => {
  it('decimal units as docker images prints them', () => {
    expect(decimalSize(587)).toBe('587B');
    expect(decimalSize(1_060_000)).toBe('1.06MB');
    expect(decimalSize(12_345_678_901)).toBe('12.3GB');
  });
  it('binary units for storage', () => {
    expect(binarySize(512)).toBe('512B');
    expect(binarySize(1536)).toBe('1.50KiB');
    expect(binarySize(64 << 20)).toBe('64.0MiB');
  });
  it('limits as written', () => {
    expect(exactBinarySize(64 << 20)).toBe('64MiB');
    expect(exactBinarySize(1000)).toBe('1000B');
    expect(exactBinarySize(3 * 2 ** 30)).toBe('3GiB');
  });
});
