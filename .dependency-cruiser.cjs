/* global module */
/**
 * Layering rules (docs/DESIGN.md, "Zones" and "Rules a change must keep"), run by `npm run depcruise` in
 * `npm test`. Paths are relative to the package root. Type-only imports count too (tsPreCompilationDeps):
 * a type names the other zone's data just as much as a call does.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles between modules.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'gateway-not-sanitize',
      severity: 'error',
      comment: 'The gateway role (Internet side) accepts and queues; it never loads a sanitizer, directly or through another module.',
      from: { path: '^src/ingress/' },
      to: { path: '^src/(sanitize|sandboxed|isolation)/', reachable: true },
    },
    {
      name: 'web-not-originals',
      severity: 'error',
      comment: 'The web role (LGWAN side) never reaches the originals: not the blob store, not the ingress.',
      from: { path: '^src/web/' },
      to: { path: '^src/(context\\.ts|store/blobs\\.ts|store/inline-blobs\\.ts|store/blobs/|ingress/)', reachable: true },
    },
    {
      name: 'web-not-sanitize',
      severity: 'error',
      comment: 'The web role shows sanitized results; it runs no sanitizer.',
      from: { path: '^src/web/' },
      to: { path: '^src/(sanitize|sandboxed|isolation|ingress)/', reachable: true },
    },
    {
      name: 'sandboxed-only-own-protocol',
      severity: 'error',
      comment: 'Code that runs inside a sandbox imports only its own folder and pure helpers (src/paths.ts), and packages.',
      from: { path: '^src/sandboxed/([^/]+)/' },
      to: { path: '^src/', pathNot: ['^src/sandboxed/$1/', '^src/paths\\.ts$'] },
    },
    {
      name: 'trusted-reads-only-protocol',
      severity: 'error',
      comment: 'Trusted code talks to a sandboxed child only through its protocol file (and spawns its entry under workers/).',
      from: { path: '^src/', pathNot: '^src/sandboxed/' },
      to: { path: '^src/sandboxed/', pathNot: '^src/sandboxed/[^/]+/protocol\\.ts$' },
    },
    {
      name: 'sanitize-not-roles',
      severity: 'error',
      comment: 'Sanitizers get bytes and give bytes; storage, queues, jobs and the network edges belong to the roles.',
      from: { path: '^src/(sanitize|mail|isolation)/' },
      to: { path: '^src/(store|queue|jobs|ingress|web|deliver|runtime)/' },
    },
    {
      name: 'mail-not-converters',
      severity: 'error',
      comment: 'Mail format (MIME, charsets, body to text) is below the converters; it uses only their shared types and hash.',
      from: { path: '^src/mail/' },
      to: { path: '^src/(sanitize|sandboxed|isolation)/', pathNot: '^src/sanitize/(types|hash)\\.ts$' },
    },
    {
      name: 'mime-not-body',
      severity: 'error',
      comment: 'Folder order inside mail/: mime/ <- body/ <- parse.ts/types.ts. body/ reads MIME parts, never the reverse.',
      from: { path: '^src/mail/mime/' },
      to: { path: '^src/mail/', pathNot: '^src/mail/mime/' },
    },
    {
      name: 'body-not-mail-root',
      severity: 'error',
      comment: 'body/ sits below src/mail/parse.ts and src/mail/types.ts.',
      from: { path: '^src/mail/body/' },
      to: { path: '^src/mail/[^/]+\\.ts$' },
    },
    {
      name: 'isolation-is-generic',
      severity: 'error',
      comment: 'src/isolation/ knows how to run a child, not what the child does.',
      from: { path: '^src/isolation/' },
      to: { path: '^src/', pathNot: ['^src/isolation/', '^src/(paths|log)\\.ts$'] },
    },
    {
      name: 'domain-is-pure',
      severity: 'error',
      comment: 'src/domain/ (reasons, manifest, mailbox) depends on nothing else in src/.',
      from: { path: '^src/domain/' },
      to: { path: '^src/', pathNot: '^src/domain/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
