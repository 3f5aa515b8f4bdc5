import { describe, expect, it } from 'vitest';
import { packSamples, TEXT_BITS } from '../src/sanitize/convert/pixels.js';
import { grayIfNeutral } from '../src/sandboxed/renderer/pixels.js';

/** Deterministic pseudo-random bytes (no Math.random: failures must reproduce). */
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 255;
  }
  return out;
}

function neutralRgb(width: number, height: number, seed: number): Uint8Array {
  const g = bytes(width * height, seed);
  const rgb = new Uint8Array(width * height * 3);
  g.forEach((v, i) => rgb.fill(v, i * 3, i * 3 + 3));
  return rgb;
}

describe('grayIfNeutral (renderer child)', () => {
  it.each([
    [1, 1],
    [3, 1],
    [4, 1],
    [7, 3],
    [1275, 4],
  ])('a neutral %i×%i page becomes its gray channel, byte for byte', (w, h) => {
    const rgb = neutralRgb(w, h, w * 31 + h);
    const out = grayIfNeutral(rgb, w, h);
    expect(out.channels).toBe(1);
    expect(Array.from(out.pixels)).toEqual(Array.from({ length: w * h }, (_v, i) => rgb[i * 3]));
  });

  it('one coloured sample anywhere (each channel, each position in a 4-pixel step, the tail) keeps RGB', () => {
    const w = 7;
    const h = 3;
    for (let byte = 0; byte < w * h * 3; byte++) {
      const rgb = neutralRgb(w, h, 5);
      rgb[byte] = rgb[byte]! ^ 1;
      const out = grayIfNeutral(rgb, w, h);
      expect(out.channels, `sample ${byte}`).toBe(3);
      expect(out.pixels).toBe(rgb);
    }
  });

  it('works on a view that does not start on a 4-byte boundary', () => {
    const base = neutralRgb(9, 2, 7);
    const backing = new Uint8Array(base.length + 1);
    backing.set(base, 1);
    const view = backing.subarray(1);
    expect(Array.from(grayIfNeutral(view, 9, 2).pixels)).toEqual(Array.from({ length: 18 }, (_v, i) => base[i * 3]));
  });
});

describe('packSamples (trusted encoder)', () => {
  /** The plain definition: each sample to the nearest of 2^bits levels, MSB first, rows padded to a byte. */
  function reference(px: Uint8Array, width: number, height: number, channels: number): Buffer {
    const max = (1 << TEXT_BITS) - 1;
    const perRow = width * channels;
    const rowBytes = Math.ceil((perRow * TEXT_BITS) / 8);
    const out = Buffer.alloc(rowBytes * height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < perRow; x++) {
        const level = Math.floor((px[y * perRow + x]! * max + 127) / 255);
        const bit = x * TEXT_BITS;
        out[y * rowBytes + (bit >> 3)]! |= level << (8 - TEXT_BITS - (bit & 7));
      }
    }
    return out;
  }

  it.each([
    [1, 1, 1],
    [5, 3, 1],
    [8, 2, 1],
    [13, 4, 3],
    [1275, 2, 1],
  ])('matches the reference packing for %i×%i with %i channel(s)', (width, height, channels) => {
    const px = bytes(width * height * channels, width + height + channels);
    const page = { index: 0, width, height, channels: channels as 1 | 3, pixels: Buffer.from(px) };
    expect(packSamples(page).equals(reference(px, width, height, channels))).toBe(true);
  });
});
