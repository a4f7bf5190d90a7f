// POST /default-integration: authenticate, read the body, run the action, shape the response.
import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import { z } from "zod";
import { ApiError, DatabaseUnavailableError, messages } from "../../_shared/errors.ts";
import { classifyDatabaseError, type Database } from "../../_shared/database.ts";
import { announcedLength, type AppEnv, elapsedMs, parseJsonBytes, readBodyBytes } from "../../_shared/http.ts";
import { errorResponses, jsonResponse, okExample } from "../../_shared/openapi.ts";
import { respond, successEnvelope } from "../../_shared/schemas.ts";
import {
  type Admission,
  admit as admitRequest,
  type AuthDeps,
  authenticate,
  type Credentials,
  type Principal,
  principalOf,
  rateLimitHeaderNames,
  readCredentials,
  requiredScope,
} from "../auth.ts";
import { checkSignature, findSignedKey, type SignedCandidate } from "../signed_auth.ts";
import { type ActivitiesBatch, prepareActivities, storeActivities } from "../actions/sync_activities.ts";
import { type CollaboratorsBatch, prepareCollaborators, storeCollaborators } from "../actions/sync_collaborators.ts";
import type { Admitted, BulkGate } from "../bulk_gate.ts";
import { parseExactJson } from "../exact_json.ts";
import {
  type Idempotency,
  idempotencyKeyHeader,
  maxIdempotencyKeyLength,
  readIdempotencyKey,
  refuseClaim,
  replayedHeader,
} from "../idempotency.ts";
import { sha256Hex } from "../../_shared/signing.ts";
import { inSpan } from "../../_shared/telemetry.ts";
import {
  actions,
  activitySchema,
  collaboratorSchema,
  maxActivitiesPerRequest,
  maxCollaboratorsPerRequest,
  syncActivitiesResult,
  syncCollaboratorsResult,
} from "../schemas.ts";

/** What the handler checks first: a JSON object with a known `action` (each action checks its items). */
const requestSchema = z.object({ action: z.enum(actions) }).loose();

const syncCollaboratorsRequest = z.object({
  action: z.literal("sync_collaborators"),
  collaborators: z.array(collaboratorSchema).max(maxCollaboratorsPerRequest).meta({
    description: `At most ${maxCollaboratorsPerRequest} (more: 400, nothing written). Applied in order; an invalid ` +
      "item is left out and reported in `errors`, the rest is written.",
  }),
}).meta({ id: "SyncCollaboratorsRequest" });

const syncActivitiesRequest = z.object({
  action: z.literal("sync_activities"),
  activities: z.array(activitySchema).max(maxActivitiesPerRequest).meta({
    description: `At most ${maxActivitiesPerRequest} (more: 400). All or nothing: any invalid item is a 400 ` +
      "`Invalid activities payload` with one `details` entry per invalid field, and nothing is written.",
  }),
}).meta({ id: "SyncActivitiesRequest" });

const syncRequest = z.discriminatedUnion("action", [syncCollaboratorsRequest, syncActivitiesRequest]).meta({
  id: "SyncRequest",
  description: `A JSON object with \`action\`: ${actions.join(" or ")}. Unknown fields are ignored.`,
});

/** The result of the action that was asked for. */
const syncResponse = z.union([
  successEnvelope(syncCollaboratorsResult).meta({ id: "SyncCollaboratorsResponse" }),
  successEnvelope(syncActivitiesResult).meta({ id: "SyncActivitiesResponse" }),
]);

const maria = { external_id: "emp-101", name: "Maria Santos", email: "maria@yourcompany.com" };
const call5001 = {
  activity_code: "001",
  external_id: "crm-call-5001",
  collaborator_email: "maria@yourcompany.com",
  data: { client: "Acme Corp", duration_min: 12 },
  occurred_at: "2026-03-17T09:15:00-03:00",
};
const counts = (created: number, existing: number, errors: string[] = [], total = 1) => ({
  created,
  existing,
  errors,
  total,
});
const activityCounts = (processed: number, duplicates: number) => ({
  processed,
  skipped: 0,
  duplicates,
  errors: [],
  total: 1,
});

export const route = createRoute({
  method: "post",
  path: "/",
  operationId: "sync",
  summary: "Sync collaborators or activities",
  description: `
\`sync_collaborators\`: at most ${maxCollaboratorsPerRequest} items. An email not seen before creates a
collaborator (\`created\`), a known one updates it (\`existing\`): given fields overwrite, omitted
optional fields keep their value. Items apply in order. An invalid item is left out and reported in
\`errors\` as \`Collaborator <external_id> (<email>): <reason>\`; the rest is written.

\`sync_activities\`: at most ${maxActivitiesPerRequest} items, all or nothing: any invalid item is a 400
with one \`details\` entry per invalid field. Then, in one transaction, items apply in order: an email
that matches no collaborator is \`skipped\` (not stored, it records nothing); per \`external_id\`, the
first item with a known collaborator is \`processed\` and the later ones are \`duplicates\`; an
\`external_id\` already stored makes all its items \`duplicates\`. Replays store each activity once.

Valid actions: ${actions.map((a) => `\`${a}\``).join(", ")}.`.trim(),
  tags: ["Sync"],
  request: {
    headers: z.object({
      [idempotencyKeyHeader]: z.string().min(1).max(maxIdempotencyKeyLength).regex(/^[\x21-\x7e]+$/).optional()
        .meta({
          description: "Optional. Makes a retry safe by request: the first answer for this API key and " +
            "Idempotency-Key is kept 24 hours, and a retry with the same key and the same body bytes gets " +
            `it again (with \`${replayedHeader}: true\`) without applying anything. The same key with another ` +
            "body: 422; while the first is being applied: 409. 1 to 255 visible ASCII characters (a UUID " +
            'per batch is typical); the draft\'s quoted form (`"…"`) is the same key.',
          examples: ["5f0c1a62-9a1e-4d0b-8f5e-2b6f1f9c7a10"],
        }),
    }),
    body: {
      required: true,
      content: {
        "application/json": {
          schema: syncRequest,
          examples: {
            sync_collaborators: {
              summary: "Register a collaborator",
              value: { action: "sync_collaborators", collaborators: [maria] },
            },
            sync_activities: {
              summary: "Send an activity",
              value: { action: "sync_activities", activities: [call5001] },
            },
            empty: {
              summary: "An empty batch: 200 with every count 0",
              value: { action: "sync_activities", activities: [] },
            },
          },
        },
      },
    },
  },
  responses: {
    200: jsonResponse(
      "The action's counts. Rate-limit headers on every authenticated answer.",
      syncResponse,
      {
        collaborators_created: okExample("sync_collaborators, first time", counts(1, 0)),
        collaborators_existing: okExample("sync_collaborators, again", counts(0, 1)),
        collaborators_item_error: okExample(
          "sync_collaborators with an invalid item",
          counts(0, 1, ["Collaborator emp-102 (not-an-email): email must be a valid email"], 2),
        ),
        activities_processed: okExample("sync_activities", activityCounts(1, 0)),
        activities_duplicate: okExample("sync_activities, the same again", activityCounts(0, 1)),
      },
      [replayedHeader, ...rateLimitHeaderNames],
    ),
    ...errorResponses(400, 401, 403, 409, 413, 415, 422, 429, 500, 503),
  },
});

export interface SyncDeps extends AuthDeps {
  gate: BulkGate;
}

type SignedCredentials = Extract<Credentials, { scheme: "signed" }>;

export const handler = (deps: SyncDeps) => async (c: Context<AppEnv>) => {
  const credentials = readCredentials(c.req.header("authorization"));
  const progress: Progress = {};
  try {
    return credentials.scheme === "bearer"
      ? await syncBearer(c, deps, credentials.token, progress)
      : await syncSigned(c, deps, credentials, progress);
  } catch (error) {
    // An admitted request that fails is logged; an unavailable database cannot take the log row
    // either; anything else unexpected is a 500.
    if (progress.principal && !(error instanceof DatabaseUnavailableError)) {
      await logFailure(c, deps, progress.principal, error instanceof ApiError ? error.status : 500);
    }
    throw error;
  } finally {
    progress.run?.release();
  }
};

/**
 * How far a request got: its place in the gate (released at the end), and its admission (a failure
 * after it is logged).
 */
interface Progress {
  run?: Admitted;
  principal?: Principal;
}

async function syncBearer(c: Context<AppEnv>, deps: SyncDeps, token: string, progress: Progress) {
  const principal = await inSpan("auth", { "salesos.auth_scheme": "bearer" }, () => authenticate(c, deps, token));
  progress.principal = principal;
  // Before the body is read: 413 when announced too large, then the concurrency limits and the
  // byte budget (bulk_gate.ts). Parsing and validation run in the gate's slices.
  const run = progress.run = await deps.gate.admit(principal, announcedLength(c.req.raw));
  return await applyAdmitted(c, deps, principal, run, run.counted(c.req.raw));
}

/** An admitted request's body read into its batch, applied by its action's SQL call, and answered. */
async function applyAdmitted(
  c: Context<AppEnv>,
  deps: SyncDeps,
  principal: Principal,
  run: Admitted,
  source: Request | SignedBody,
) {
  const read = await readBatch(c, run, source);
  return answer(c, await run.paced(() => storeBatch(deps.db, principal, batchRequest(c, read), read)));
}

/**
 * P2S-SIGN-V1: the key is found and checked first, then its body read through the same gate
 * (signed_auth.ts) and its signature checked. A small body (bulk_gate.ts) is then parsed, and the
 * request admitted and its batch applied in one call (a body refused is answered after the request's
 * admission); a large one is admitted before its parsing, so that a refused one costs none.
 */
async function syncSigned(c: Context<AppEnv>, deps: SyncDeps, credentials: SignedCredentials, progress: Progress) {
  const candidate = await inSpan(
    "auth",
    { "salesos.auth_scheme": "signed" },
    () => findSignedKey(c, deps, credentials),
  );
  const run = progress.run = await deps.gate.admit(candidate, announcedLength(c.req.raw));
  const body = await signedBody(c, deps, candidate, credentials, run);
  const ip = c.get("clientIp");
  const admit = async () => {
    progress.principal = await admitRequest(c, deps, candidate.keyId, ip, credentials.signature);
    return progress.principal;
  };
  if (run.large) return await applyAdmitted(c, deps, await admit(), run, body);
  let read: ActionBatch;
  try {
    read = await readBatch(c, run, body);
  } catch (error) {
    await admit();
    throw error;
  }
  const call = { keyId: candidate.keyId, ip, signature: credentials.signature, ...batchRequest(c, read) };
  const { admission, stored } = await admitAndStore(deps.db, call, read);
  progress.principal = await principalOf(c, deps, candidate.keyId, ip, admission);
  return answer(c, stored());
}

/** A signed request's body, read and hashed, whose signature was checked. */
interface SignedBody {
  bytes: Uint8Array;
  sha256: string;
}

/** Reads a signed request's body through its gate and checks its signature (else 401). */
async function signedBody(
  c: Context<AppEnv>,
  deps: SyncDeps,
  candidate: SignedCandidate,
  credentials: SignedCredentials,
  run: Admitted,
): Promise<SignedBody> {
  const bytes = await readBodyBytes(run.counted(c.req.raw));
  const body = { bytes, sha256: sha256Hex(bytes) };
  await inSpan(
    "auth signature",
    { "salesos.auth_scheme": "signed" },
    () => checkSignature(c, deps, candidate, { ...credentials, method: c.req.method }, body.sha256),
  );
  return body;
}

/** A request's action and its batch, ready for the action's SQL call. */
type ActionBatch =
  & { idempotency: Idempotency | null }
  & ({ action: "sync_collaborators"; batch: CollaboratorsBatch } | {
    action: "sync_activities";
    batch: ActivitiesBatch;
  });

/**
 * Reads the request's JSON body (from the request, or the bytes a signature was checked on) into
 * its action's batch. Apart from the SQL call, so that the body and its parsed values can be
 * collected while the call runs: an async function keeps its locals until it returns.
 */
async function readBatch(c: Context<AppEnv>, run: Admitted, source: Request | SignedBody): Promise<ActionBatch> {
  if (run.bulk) c.get("log").bulk = true;
  const key = readIdempotencyKey(c.req.header(idempotencyKeyHeader));
  // A Bearer request's body is read only now, after its Idempotency-Key is checked.
  const bytes = source instanceof Request ? await readBodyBytes(source) : source.bytes;
  const idempotency: Idempotency | null = key === null
    ? null
    : { key, requestHash: source instanceof Request ? sha256Hex(bytes) : source.sha256 };
  const body = await run.slice(() => parseJsonBytes(bytes, c.req.header("content-type"), { parse: parseExactJson }));
  const parsed = requestSchema.safeParse(body);
  if (!parsed.success) throw new ApiError("VALIDATION_ERROR", messages.invalidAction);
  const action = parsed.data.action;
  c.get("log").action = action;
  return action === "sync_collaborators"
    ? { action, idempotency, batch: await prepareCollaborators(parsed.data.collaborators, run) }
    : { action, idempotency, batch: await prepareActivities(parsed.data.activities, run) };
}

/** What the action's SQL call is told of the request. */
function batchRequest(c: Context<AppEnv>, read: ActionBatch) {
  return { requestId: c.get("requestId"), elapsedMs: () => elapsedMs(c), idempotency: read.idempotency };
}

/**
 * A batch as its action's SQL call answers: applied, or under an Idempotency-Key the stored answer
 * (replayed) or a refusal (mismatch: 422, in_flight: 409).
 */
type StoredBatch = Awaited<ReturnType<typeof storeCollaborators> | ReturnType<typeof storeActivities>>;

function storeBatch(
  db: Database,
  principal: Principal,
  request: ReturnType<typeof batchRequest>,
  read: ActionBatch,
): Promise<StoredBatch> {
  return read.action === "sync_collaborators"
    ? storeCollaborators(db, principal, request, read.batch)
    : storeActivities(db, principal, request, read.batch);
}

/** What salesos.admit_and_sync answers: the admission's fields, then the batch's (null when refused). */
type AdmitAndSyncRow = Omit<Admission, "outcome"> & {
  admission: Admission["outcome"];
  outcome: StoredBatch["outcome"] | "failed" | null;
  data: StoredBatch["data"] | { sqlstate: string; message: string } | null;
};

/**
 * Admits a signed request and applies its batch, in one call (salesos.admit_and_sync): its
 * admission, and once that admits it, its stored batch, or the error of a batch that failed after
 * the admission committed (thrown, as the call would have).
 */
async function admitAndStore(
  db: Database,
  call: { keyId: string; ip: string | null; signature: string } & ReturnType<typeof batchRequest>,
  read: ActionBatch,
): Promise<{ admission: Admission; stored: () => StoredBatch }> {
  // The item count and the items refused before the call: collaborators only.
  const collaborators = read.action === "sync_collaborators" ? read.batch : null;
  const [row] = await db.query<AdmitAndSyncRow>(
    "call salesos.admit_and_sync($1::uuid, $2::inet, $3, $4::uuid, $5, $6, $7, $8::text::jsonb, $9::integer, $10::integer[], $11::text::json, $12, decode($13, 'hex'))",
    [
      call.keyId,
      call.ip,
      requiredScope,
      call.requestId,
      call.elapsedMs(),
      call.signature,
      read.action,
      read.batch.rows,
      collaborators?.itemCount ?? null,
      collaborators?.errorOrds ?? [],
      collaborators?.errorMessages ?? "[]",
      call.idempotency?.key ?? null,
      call.idempotency?.requestHash ?? null,
    ],
  );
  const { admission, outcome, data, ...fields } = row;
  const stored = (): StoredBatch => {
    if (outcome === "failed") {
      const { sqlstate, message } = data as { sqlstate: string; message: string };
      throw classifyDatabaseError(Object.assign(new Error(message), { code: sqlstate, severity: "ERROR" }));
    }
    if (outcome === null) throw new Error(`salesos.admit_and_sync: no batch answer for admission ${admission}`);
    return { outcome, data } as StoredBatch;
  };
  return { admission: { outcome: admission, ...fields }, stored };
}

/** The answer to a stored batch: its data, or the Idempotency-Key's stored answer or refusal. */
function answer(c: Context<AppEnv>, { outcome, data }: StoredBatch) {
  refuseClaim(outcome);
  if (outcome === "replayed") {
    c.header(replayedHeader, "true");
    c.get("log").idempotent_replayed = true;
  }
  const { errors, ...counts } = data;
  c.get("log").item_counts = { ...counts, errors: errors.length };
  return respond(c, syncResponse, data);
}

/** Logs an admitted request that did not succeed. Best effort: the error is the answer either way. */
async function logFailure(c: Context<AppEnv>, deps: AuthDeps, principal: Principal, status: number) {
  try {
    await deps.db.query(
      "select salesos.log_request($1::uuid, $2::uuid, $3::uuid, $4, $5, $6, $7::inet, $8, null)",
      [
        c.get("requestId"),
        principal.tenantId,
        principal.keyId,
        principal.environment,
        (c.get("log").action as string | undefined) ?? null,
        status,
        principal.ip,
        elapsedMs(c),
      ],
    );
  } catch {
    // The database is failing; the client still gets its error.
  }
}
