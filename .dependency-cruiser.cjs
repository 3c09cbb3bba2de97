// The import graph's rules (npm run lint runs `depcruise src bench test`). Each rule says which layer may
// not know which; a violation names the importing file and the import.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'An import cycle in src/: module evaluation order then decides what is undefined at load time, and the layers ' +
        'stop being separable. A cycle closed only by `import type` is erased at compile time and left alone.',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'server-not-cli',
      severity: 'error',
      comment: 'The server is a library the ocr command starts; the command line depends on the server, never the reverse.',
      from: { path: '^src/server/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'engine-no-transport',
      severity: 'error',
      comment:
        'The engine (decode, detect, recognize, runtime, admission) knows nothing of gRPC or HTTP: no server, client, ' +
        'HTTP front door or generated protobuf code, no @grpc/* and no HTTP framework.',
      from: { path: '^src/engine/' },
      to: {
        path: ['^src/(server|client|gen|http)/', '(^|/)node_modules/(@grpc|@fastify|fastify)(/|$)'],
      },
    },
    {
      name: 'engine-no-node-http',
      severity: 'error',
      comment: 'The engine knows nothing of HTTP: no node:http, node:http2 or node:https.',
      from: { path: '^src/engine/' },
      to: { dependencyTypes: ['core'], path: '^(node:)?(http|http2|https)$' },
    },
    {
      name: 'client-no-engine',
      severity: 'error',
      comment:
        'The client SDK is published alone (packages/client): it knows nothing of the engine, the server or the HTTP ' +
        'front door, not even their types, and never loads onnxruntime.',
      from: { path: '^src/client/' },
      to: { path: ['^src/(engine|server|http|cli)/', '(^|/)node_modules/onnxruntime-(node|common)(/|$)'] },
    },
    {
      name: 'client-sharp-lazily',
      severity: 'error',
      comment:
        "sharp is the SDK's optional dependency (for tiling large images only): import it with import() where it is " +
        'needed, or import type; a static import would make it required for every user of the client.',
      from: { path: '^src/client/' },
      to: { path: '(^|/)node_modules/sharp(/|$)', dependencyTypesNot: ['dynamic-import', 'type-only', 'type-import'] },
    },
    {
      name: 'bench-not-test',
      severity: 'error',
      comment: 'bench/ runs from dist/ without the tests: what both need belongs in src/ (or bench/), not test/support.',
      from: { path: '^bench/' },
      to: { path: '^test/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that resolves to no file and no installed package (a typo, or a package missing from package.json).',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // src/gen is ts-proto's output: a module of the graph, but its own imports are not checked.
    exclude: { path: '^(dist|out)/' },
    // See type-only imports as well: a type import of the engine in the client ends up in the SDK's .d.ts files.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      extensions: ['.ts', '.d.ts', '.js', '.mjs', '.cjs', '.json'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
