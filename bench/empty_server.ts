// The cold-start floor of `deno task bench`: the Deno runtime alone, serving a 401 to everything.
Deno.serve(
  { hostname: "127.0.0.1", port: Number(Deno.args[0]), onListen: () => {} },
  () => new Response(null, { status: 401 }),
);
