// The command line of the operator tools (keys, tenants, token): a usage error exits 2 with the
// usage on stderr; --help (-h) prints the usage and exits 0.
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";

/** A usage error or a refusal: the message on stderr, nothing on stdout, exit code 2. */
export function fail(message: string): never {
  console.error(message);
  Deno.exit(2);
}

const helpOption = { help: { type: "boolean", short: "h", default: false } } as const;

/** Deno.args parsed with these options (and --help); an unknown option or a missing value is a usage error. */
export function parseCommandLine<const Options extends ParseArgsOptionsConfig>(
  usage: string,
  options: Options,
  allowPositionals: boolean,
) {
  const parsed = (() => {
    try {
      return parseArgs<{ args: string[]; allowPositionals: boolean; options: Options & typeof helpOption }>({
        args: Deno.args,
        allowPositionals,
        options: { ...options, ...helpOption },
      });
    } catch (error) {
      fail(`${(error as Error).message}\n${usage}`);
    }
  })();
  if ((parsed.values as { help?: boolean }).help) {
    console.log(usage);
    Deno.exit(0);
  }
  return parsed;
}
