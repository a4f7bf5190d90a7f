// The secret `deno task start` verifies HS256 Dashboard tokens with when none is configured (the
// test servers set none): a test signs a token that expires soon with it.
import { localJwtSecret } from "../../tools/config.ts";

export const developmentJwtSecretForTests = localJwtSecret({ jwtSecret: undefined });
