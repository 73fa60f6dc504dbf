// What `qrv --version` prints: the package's version and the commit it was built from, written
// into the bundle by the build (scripts/esbuild-plugins.mjs, define QRV_BUILD); from the sources
// (tests in-process), the version of package.json is not known here and "source" is said instead.
declare const QRV_BUILD: { version: string; commit: string } | undefined;

export const BUILD: { version: string; commit: string } =
  typeof QRV_BUILD === 'undefined' ? { version: '0.0.0-source', commit: 'source' } : QRV_BUILD;
