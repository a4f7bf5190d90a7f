// The settings of an API key as integrators and admins send them: one schema for the api-keys
// function (create and patch) and the local keys CLI, matching the table's constraints.
import { z } from "zod";
import { checkAllowlistEntry } from "./client-ip.ts";
import { storable } from "./schemas.ts";

export const knownScopes = ["default:sync", "leads:read", "leads:write"] as const;
export const maxAllowlistEntries = 100;

const allowlistEntry = z.string().max(64).superRefine((entry, ctx) => {
  const result = checkAllowlistEntry(entry);
  if (!result.ok) ctx.addIssue({ code: "custom", message: `${entry.slice(0, 64)}: ${result.reason}` });
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
    .nullish(),
  ip_allowlist: z.array(allowlistEntry).max(maxAllowlistEntries).nullish(),
});
export type KeySettings = z.infer<typeof keySettingsSchema>;
