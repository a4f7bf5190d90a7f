// The package's version, sent in the User-Agent. tests/client/package_test.ts checks it equals
// package.json's (the package reads no JSON at run time: it runs unbundled on every runtime).
export const clientVersion = "0.1.0";
/** `deno/2.1.0`, `bun/1.2.0`, `node/22.1.0`; `unknown` elsewhere (a browser sends its own User-Agent). */
function runtime() {
    const global = globalThis;
    // Bun and Deno also define process.versions.node: they are asked first.
    if (global.Deno?.version?.deno)
        return `deno/${global.Deno.version.deno}`;
    if (global.Bun?.version)
        return `bun/${global.Bun.version}`;
    if (global.process?.versions?.node)
        return `node/${global.process.versions.node}`;
    return "unknown";
}
/** `salesos-client/<version> (<runtime>)`: lets the service's request log tell clients and their versions apart. */
export const userAgent = `salesos-client/${clientVersion} (${runtime()})`;
