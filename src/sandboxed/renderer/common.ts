/** Types and helpers shared by the renderer child's modules (runs inside the child only). */
import { encodePageHeader } from './protocol.js';

/** Trusted arguments from the parent (argv), all derived from config, never from input. */
export interface ChildArgs {
  mode: 'pdf' | 'image' | 'svg';
  dpi: number;
  maxPages: number;
  maxPagePixels: number;
  maxSide: number;
  /** PDF engine: native MuPDF (`mutool`) or MuPDF.js (WASM). Images always use sharp or MuPDF.js. */
  engine: 'mutool' | 'mupdfjs';
}

export class ChildFailure extends Error {
  constructor(readonly code: number) {
    super(`child failure ${code}`);
  }
}

export function parseChildArgs(argv: string[]): ChildArgs {
  const [mode, dpi, maxPages, maxPagePixels, maxSide, engine = 'mupdfjs'] = argv;
  if (mode !== 'pdf' && mode !== 'image' && mode !== 'svg') throw new Error(`bad mode ${mode}`);
  const n = (s: string | undefined): number => {
    const v = Number(s);
    if (!Number.isSafeInteger(v) || v <= 0) throw new Error(`bad numeric argument ${s}`);
    return v;
  };
  if (engine !== 'mutool' && engine !== 'mupdfjs') throw new Error(`bad engine ${engine}`);
  return { mode, dpi: n(dpi), maxPages: n(maxPages), maxPagePixels: n(maxPagePixels), maxSide: n(maxSide), engine };
}

/** The data channel, with back-pressure (a slow reader must slow the renderer, not grow its memory). */
export interface Sink {
  write(b: Uint8Array): Promise<void>;
}

export interface PageOut {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  pixels: Uint8Array;
}

export async function writePage(sink: Sink, index: number, p: PageOut): Promise<void> {
  await sink.write(encodePageHeader(index, p.width, p.height, p.channels));
  await sink.write(p.pixels);
}

