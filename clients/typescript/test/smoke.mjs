// Runs under Node, Bun and Deno against the running service, importing the package as a user would
// (installed with `npm install <path>` or `<tarball>`, or Bun's and Deno's own installs). SALESOS_RUN
// prefixes every id, so each run has its own rows. Prints one JSON line of what it saw.
import { SalesOSApiError, SalesOSClient } from "@salesos/integration-client";

const baseUrl = process.env.SALESOS_URL;
const run = process.env.SALESOS_RUN;
const client = new SalesOSClient({ apiKey: process.env.SALESOS_API_KEY, baseUrl });

const people = Array.from(
  { length: 600 },
  (_, i) => ({ external_id: `${run}-n-${i}`, name: `N ${i}`, email: `${run}-n${i}@example.com` }),
);
const collaborators = await client.syncCollaborators(people);

const calls = Array.from(
  { length: 1500 },
  (_, i) => ({
    activity_code: "002",
    external_id: `${run}-c-${i}`,
    collaborator_email: `${run}-n${i % 600}@example.com`,
  }),
);
calls[1234] = { ...calls[1234], activity_code: "abc" };
let invalid = null;
try {
  await client.syncActivities(calls);
} catch (error) {
  invalid = {
    type: error.constructor.name,
    status: error.status,
    details: error.details,
    completed: error.progress.completedItems,
  };
}
const activities = await client.syncActivities(calls, { skipInvalid: true });

let unauthorized = null;
try {
  await new SalesOSClient({ apiKey: "sk_live_00000000000000000000000000000000", baseUrl }).syncActivities(
    calls.slice(0, 1),
  );
} catch (error) {
  unauthorized = {
    isApiError: error instanceof SalesOSApiError,
    status: error.status,
    code: error.code,
    message: error.message,
  };
}

// The test's recording server answers 503 then 200: the headers of both attempts are its to check.
const recorded = new SalesOSClient({
  apiKey: "sk_test_00000000000000000000000000000000",
  baseUrl: process.env.RECORDING_URL,
  retry: { baseDelayMs: 1, maxDelayMs: 10 },
});
const retried = await recorded.syncCollaborators([{ external_id: run, name: run, email: `${run}@example.com` }]);

console.log(
  JSON.stringify({ collaborators, invalid, activities, unauthorized, rateLimit: client.rateLimit, retried }),
);
