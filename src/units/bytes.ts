/** Sizes for people. One place, so every command and progress line writes sizes the same way. */

/** Decimal units as `docker images` and transfer progress print them: 587B, 1.06MB, 12.3GB. */
export function decimalSize(n: number): string {
  return scaled(n, 1000, ['B', 'kB', 'MB', 'GB', 'TB']);
}

/** Binary units for storage accounting (du, prune, limits): 512B, 1.50KiB, 64.0MiB. */
export function binarySize(n: number): string {
  return scaled(n, 1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB']);
}

function scaled(n: number, step: number, units: string[]): string {
  let i = 0;
  let v = n;
  while (v >= step && i < units.length - 1) {
    v /= step;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)}${units[i]}`;
}

/** A limit as it was most likely written: 67108864 → "64MiB", 1000 → "1000B" (largest unit that divides exactly). */
export function exactBinarySize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1 && v % 1024 === 0) {
    v /= 1024;
    i++;
  }
  return `${v}${units[i]}`;
}
