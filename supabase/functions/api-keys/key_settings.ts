// The settings of an API key as integrators and admins send them: one schema for the api-keys
// function (create and patch) and the local keys CLI, matching the table's constraints; and the
// one way a key is created from them.
import { z } from "zod";
import { mintApiKey } from "../_shared/api_key.ts";
import { allowsEveryAddress, checkAllowlistEntry } from "../_shared/client_ip.ts";
import type { Database } from "../_shared/database.ts";
import { ApiError, messages } from "../_shared/errors.ts";
import { deriveK1, generateSecret, type Keyring, keySha256 } from "../_shared/signing.ts";
import { inIsoYears, storable } from "../_shared/schemas.ts";

export const knownScopes = ["default:sync", "leads:read", "leads:write"] as const;
export const maxAllowlistEntries = 100;

const allowlistEntry = z.string().max(64).superRefine((entry, ctx) => {
  // `::ffff:0:0/96` is refused by the list's rule below, for what it means rather than its spelling.
  if (allowsEveryAddress([entry])) return;
  const result = checkAllowlistEntry(entry);
  if (!result.ok) ctx.addIssue({ code: "custom", message: `${entry.slice(0, 64)}: ${result.reason}` });
});

/**
 * An allowlist that lets a whole address family in looks like a restriction without being one:
 * refused, and whoever means "any address" is told to remove the allowlist.
 */
const allowlist = z.array(allowlistEntry).max(maxAllowlistEntries).superRefine((entries, ctx) => {
  const family = allowsEveryAddress(entries);
  if (family) {
    ctx.addIssue({
      code: "custom",
      message: `ip_allowlist allows every ${family} address: to allow any address, remove the allowlist ` +
        "(null, or leave it out) instead",
    });
  }
});

export const keySettingsSchema = z.object({
  name: z.string().trim().min(1, "name must be 1-100 characters").max(100, "name must be 1-100 characters")
    .refine(storable, "name must be text without NUL characters or lone surrogates"),
  environment: z.enum(["live", "test"]).default("live"),
  scopes: z.array(z.enum(knownScopes)).max(knownScopes.length)
    .transform((scopes) => [...new Set(scopes)]).default([]),
  rate_limit_per_hour: z.int().min(1).max(100_000).default(1000),
  expires_at: z.iso.datetime({ offset: true })
    .refine((at) => Date.parse(at) > Date.now(), "expires_at must be in the future")
    .refine((at) => inIsoYears(new Date(at)), "expires_at must be before 10000-01-01T00:00:00Z")
    .nullish(),
  ip_allowlist: allowlist.nullish(),
  /** bearer: `Authorization: Bearer <key>`; signed: P2S-SIGN-V1 signed requests (a secret besides the key). */
  auth_scheme: z.enum(["bearer", "signed"]).default("bearer"),
});
export type KeySettings = z.infer<typeof keySettingsSchema>;

/** Who creates a key, as its key.create audit entry records it. */
export interface KeyCreator {
  tenantId: string;
  actorId: string | null;
  actorType: "user" | "service_role" | "cli";
  ip: string | null;
}

/** Whether the tenant holds `maxActiveKeys` active keys already (counting no further than that). */
export async function atKeyLimit(db: Database, tenantId: string, maxActiveKeys: number): Promise<boolean> {
  const [{ active }] = await db.query<{ active: number }>(
    "select count(*)::int as active from salesos.list_api_keys($1::uuid, 'active', null, $2, null, null)",
    [tenantId, maxActiveKeys],
  );
  return active >= maxActiveKeys;
}

/**
 * Mints a key and stores it with its audit entry in one call (salesos.create_api_key): the stored
 * key's object plus its plaintext `key` (shown once), or null when the tenant already holds
 * `maxActiveKeys` active keys. The cap is looked at before the bcrypt hash is made, so a tenant at
 * its cap costs no hashing; salesos.create_api_key checks it again, atomically, when storing.
 */
export async function createApiKey<Created extends { id: string; key_prefix: string }>(
  db: Database,
  creator: KeyCreator,
  settings: Omit<KeySettings, "auth_scheme"> & Partial<Pick<KeySettings, "auth_scheme">>,
  limits: { bcryptCost: number; maxActiveKeys: number; keyring?: Keyring | null },
): Promise<(Created & { key: string; secret?: string }) | null> {
  const signed = settings.auth_scheme === "signed";
  if (signed && !limits.keyring) throw signingNotEnabled();
  if (await atKeyLimit(db, creator.tenantId, limits.maxActiveKeys)) return null;
  const { key, keyPrefix, hash } = await mintApiKey(settings.environment, limits.bcryptCost);
  const signing = signed ? await sealSigningKey(limits.keyring!, key, keyPrefix) : null;
  const [{ created }] = await db.query<{ created: Created | null }>(
    `select salesos.create_api_key($1::uuid, $2::uuid, $3, $4::inet, $5, $6, $7, $8, $9::text[], $10,
                                   $11::timestamptz, $12::cidr[], $13, $14, $15::bytea, $16, $17::bytea) as created`,
    [
      creator.tenantId,
      creator.actorId,
      creator.actorType,
      creator.ip,
      settings.name,
      settings.environment,
      keyPrefix,
      hash,
      settings.scopes,
      settings.rate_limit_per_hour,
      settings.expires_at ?? null,
      settings.ip_allowlist ?? null,
      limits.maxActiveKeys,
      settings.auth_scheme ?? "bearer",
      signing?.sealed ?? null,
      signing?.kekId ?? null,
      signing?.keySha256 ?? null,
    ],
  );
  return created && { ...created, key, ...(signing ? { secret: signing.secret } : {}) };
}

/** 400 for a signed key where the deployment has no SIGNING_KEK. */
export function signingNotEnabled(): ApiError {
  return new ApiError("VALIDATION_ERROR", messages.signingNotEnabled, {
    details: [{ field: "auth_scheme", message: messages.signingNotEnabled }],
  });
}

/**
 * A new secret for a signed key and what the database keeps of it: k1 = HMAC_SHA256(secret, key),
 * encrypted under the current KEK, and the SHA-256 of the key string (which proves a presented key
 * before its body is read). The secret itself is only returned, once.
 */
export async function sealSigningKey(keyring: Keyring, key: string, keyPrefix: string) {
  const secret = generateSecret();
  const sealed = await keyring.encrypt(deriveK1(secret, key), keyPrefix);
  return { secret, sealed, kekId: keyring.currentId, keySha256: keySha256(key) };
}
