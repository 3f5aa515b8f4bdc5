// linkify-it ships no types; only what test/helpers/clickable.ts uses.
declare module 'linkify-it' {
  interface Match {
    schema: string;
    raw: string;
    url: string;
    index: number;
  }
  export default class LinkifyIt {
    constructor(schemas?: Record<string, unknown>, options?: { fuzzyLink?: boolean; fuzzyEmail?: boolean; fuzzyIP?: boolean });
    match(text: string): Match[] | null;
  }
}
