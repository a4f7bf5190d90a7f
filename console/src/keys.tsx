// The API keys screen: a Test / Live switch, the tenant's keys of that environment a page at a time,
// and the buttons that open the dialogs of key_dialogs.tsx.
import { useEffect, useState } from "preact/hooks";
import type { ApiClient, ApiKey } from "./api.ts";
import { ConfirmDialog, KeyFormDialog, RotateDialog } from "./key_dialogs.tsx";
import {
  ErrorState,
  expiresText,
  firstPage,
  ipAllowlistText,
  lastUsedText,
  Loading,
  Pager,
  type Paging,
  scopesText,
  TableRegion,
  useLoad,
} from "./ui.tsx";

type Open =
  | { dialog: "create" }
  | { dialog: "edit" | "rotate" | "revoke" | "delete"; key: ApiKey }
  | null;

/** Requests of the current UTC hour, for each key of the page (one usage call per key shown). */
function useRequestsThisHour(api: ApiClient, keys: ApiKey[] | undefined) {
  const [counts, setCounts] = useState<Record<string, number | null>>({});
  useEffect(() => {
    if (!keys) return;
    let current = true;
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    const range = { from: new Date(hour).toISOString(), to: new Date(hour + 3_600_000).toISOString() };
    Promise.all(
      keys.map((key) =>
        api.usage(key.id, { ...range, bucket: "hour" }).then(
          (usage) => [key.id, usage.totals.total] as const,
          () => [key.id, null] as const,
        )
      ),
    ).then((entries) => current && setCounts(Object.fromEntries(entries)));
    return () => {
      current = false;
    };
  }, [keys]);
  return counts;
}

function StatusBadge({ status }: { status: ApiKey["status"] }) {
  return <span class={`badge ${status}`}>{status}</span>;
}

export function KeysScreen(
  { api, environment, onEnvironment }: {
    api: ApiClient;
    environment: "live" | "test";
    onEnvironment: (environment: "live" | "test") => void;
  },
) {
  const [paging, setPaging] = useState<Paging>(firstPage);
  const [open, setOpen] = useState<Open>(null);
  const [notice, setNotice] = useState("");
  const keys = useLoad(() => api.listKeys({ environment, cursor: paging.cursor }), [environment, paging]);
  const thisHour = useRequestsThisHour(api, keys.data?.items);
  const close = () => setOpen(null);
  const changed = (message: string) => () => {
    setNotice(message);
    keys.reload();
  };

  return (
    <section aria-labelledby="keys-title">
      <div class="screen-head">
        <h1 id="keys-title">API keys</h1>
        <fieldset class="switch">
          <legend class="visually-hidden">Environment shown</legend>
          {(["test", "live"] as const).map((env) => (
            <label key={env} class={env === environment ? "on" : ""}>
              <input
                type="radio"
                name="environment"
                value={env}
                checked={env === environment}
                onChange={() => {
                  setPaging(firstPage);
                  onEnvironment(env);
                }}
              />
              {env === "test" ? "Test" : "Live"}
            </label>
          ))}
        </fieldset>
        <button type="button" class="primary" onClick={() => setOpen({ dialog: "create" })}>Create API key</button>
      </div>
      <p class="notice" role="status">{notice}</p>
      {keys.error !== undefined
        ? <ErrorState error={keys.error} retry={keys.reload} />
        : !keys.data
        ? <Loading what="API keys" />
        : keys.data.items.length === 0 && paging.previous.length === 0
        ? (
          <p class="state empty">
            No {environment === "live" ? "live" : "test"} keys yet. Choose <b>Create API key</b> to make one.
          </p>
        )
        : (
          <>
            <TableRegion label={`${environment === "live" ? "Live" : "Test"} API keys`}>
              <table class="keys">
                <caption class="visually-hidden">{environment === "live" ? "Live" : "Test"} API keys</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Key prefix</th>
                    <th scope="col">Environment</th>
                    <th scope="col">Authentication</th>
                    <th scope="col">Scopes</th>
                    <th scope="col">Rate limit per hour</th>
                    <th scope="col">IP allowlist</th>
                    <th scope="col">Expires</th>
                    <th scope="col">Status</th>
                    <th scope="col">Last used</th>
                    <th scope="col">Requests this hour</th>
                    <th scope="col">Actions</th>
                  </tr>
                </thead>
                <tbody>
                  {keys.data.items.map((key) => (
                    <tr key={key.id}>
                      <th scope="row">
                        <a href={`#/keys/${key.id}`}>{key.name}</a>
                      </th>
                      <td>
                        <code>{key.key_prefix}</code>
                      </td>
                      <td>{key.environment}</td>
                      <td>{key.auth_scheme === "signed" ? "signed (P2S-SIGN-V1)" : "bearer"}</td>
                      <td>{scopesText(key)}</td>
                      <td class="number">{key.rate_limit_per_hour}</td>
                      <td>{ipAllowlistText(key)}</td>
                      <td>{expiresText(key)}</td>
                      <td>
                        <StatusBadge status={key.status} />
                      </td>
                      <td>{lastUsedText(key)}</td>
                      <td class="number">{thisHour[key.id] ?? "…"}</td>
                      <td class="row-actions">
                        {key.status === "active" && (
                          <>
                            <button
                              type="button"
                              aria-label={`Edit ${key.name}`}
                              onClick={() => setOpen({ dialog: "edit", key })}
                            >
                              Edit
                            </button>
                            <button
                              type="button"
                              aria-label={`Rotate ${key.name}`}
                              onClick={() => setOpen({ dialog: "rotate", key })}
                            >
                              Rotate
                            </button>
                            <button
                              type="button"
                              class="danger"
                              aria-label={`Revoke ${key.name}`}
                              onClick={() => setOpen({ dialog: "revoke", key })}
                            >
                              Revoke
                            </button>
                          </>
                        )}
                        <button
                          type="button"
                          class="danger"
                          aria-label={`Delete ${key.name}`}
                          onClick={() => setOpen({ dialog: "delete", key })}
                        >
                          Delete
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableRegion>
            <Pager paging={paging} nextCursor={keys.data.nextCursor} onChange={setPaging} label="API keys" />
          </>
        )}
      {open?.dialog === "create" && (
        <KeyFormDialog api={api} environment={environment} onClose={close} onSaved={changed("Key created.")} />
      )}
      {open?.dialog === "edit" && (
        <KeyFormDialog
          api={api}
          apiKey={open.key}
          environment={environment}
          onClose={close}
          onSaved={changed("Key saved.")}
        />
      )}
      {open?.dialog === "rotate" && (
        <RotateDialog api={api} apiKey={open.key} onClose={close} onSaved={changed("Key rotated.")} />
      )}
      {(open?.dialog === "revoke" || open?.dialog === "delete") && (
        <ConfirmDialog
          api={api}
          apiKey={open.key}
          action={open.dialog}
          onClose={close}
          onDone={changed(open.dialog === "revoke" ? "Key revoked." : "Key deleted.")}
        />
      )}
    </section>
  );
}
