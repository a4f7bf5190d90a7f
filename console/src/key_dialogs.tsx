// The dialogs that change keys: create and edit (one form), rotate, revoke and delete. A created or
// rotated key's plaintext (and a signed key's secret) lives only in the dialog's state: closing the
// dialog forgets it.
import { useState } from "preact/hooks";
import { type ApiClient, ApiFailure, type ApiKey, knownScopes, type NewApiKey } from "./api.ts";
import { Dialog, errorText, SecretField } from "./ui.tsx";

type Fields = "name" | "environment" | "auth_scheme" | "scopes" | "rate_limit_per_hour" | "expires_at" | "ip_allowlist";

/** `ip_allowlist[2]` → `ip_allowlist`: the field an API `details` entry is about. */
function fieldErrors(error: unknown): Partial<Record<Fields, string>> {
  if (!(error instanceof ApiFailure)) return {};
  const byField: Partial<Record<Fields, string>> = {};
  for (const detail of error.details) {
    const field = /^[a-z_]+/.exec(detail.field)?.[0] as Fields | undefined;
    if (field && !byField[field]) byField[field] = detail.message;
  }
  return byField;
}

/** `2026-03-17T09:15` (the browser's local time, as datetime-local shows it) from an ISO time. */
function toLocalInput(at: string | null): string {
  if (!at) return "";
  const date = new Date(at);
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

function Field(
  { id, label, error, hint, children }: {
    id: string;
    label: string;
    error?: string;
    hint?: string;
    children: preact.ComponentChildren;
  },
) {
  return (
    <div class={error ? "field invalid" : "field"}>
      <label for={id}>{label}</label>
      {children}
      {hint && <p class="hint" id={`${id}-hint`}>{hint}</p>}
      {error && <p class="field-error" id={`${id}-error`}>{error}</p>}
    </div>
  );
}

const describedBy = (id: string, error?: string, hint?: string) =>
  [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ") || undefined;

function ShownOnce({ created, onClose }: { created: NewApiKey; onClose: () => void }) {
  return (
    <div class="shown-once">
      <SecretField id="new-api-key" label="Your new API key" value={created.key} focus />
      {created.secret && <SecretField id="new-api-secret" label="Your signing secret" value={created.secret} />}
      <p class="warning" role="note">
        Copy {created.secret ? "the key and the secret" : "the key"} now and store {created.secret ? "them" : "it"}{" "}
        in a secret manager: {created.secret ? "they" : "it"} will not be shown again.
      </p>
      {created.rotated_from && (
        <p>
          The old key <code>{created.rotated_from.key_prefix}</code> {created.rotated_from.expires_at
            ? `stops working at ${new Date(created.rotated_from.expires_at).toISOString()}.`
            : "keeps its expiry."}
        </p>
      )}
      <div class="actions">
        <button type="button" class="primary" onClick={onClose}>Done</button>
      </div>
    </div>
  );
}

/** Create (no `apiKey`) or edit (`apiKey`) a key. */
export function KeyFormDialog(
  { api, apiKey: key, environment, onClose, onSaved }: {
    api: ApiClient;
    apiKey?: ApiKey;
    environment: "live" | "test";
    onClose: () => void;
    onSaved: () => void;
  },
) {
  const editing = key !== undefined;
  const [name, setName] = useState(key?.name ?? "");
  const [env, setEnv] = useState<"live" | "test">(key?.environment ?? environment);
  const [authScheme, setAuthScheme] = useState<"bearer" | "signed">(key?.auth_scheme ?? "bearer");
  const [scopes, setScopes] = useState<string[]>(key?.scopes ?? ["default:sync"]);
  const [rateLimit, setRateLimit] = useState(String(key?.rate_limit_per_hour ?? 1000));
  const [expiresAt, setExpiresAt] = useState(toLocalInput(key?.expires_at ?? null));
  const [allowlist, setAllowlist] = useState((key?.ip_allowlist ?? []).join("\n"));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<NewApiKey | null>(null);
  const errors = fieldErrors(error);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const entries = allowlist.split("\n").map((line) => line.trim()).filter(Boolean);
    // A rate limit that is not a number goes as typed, and the API says what is wrong with it.
    const limit = /^\d+$/.test(rateLimit.trim()) ? Number(rateLimit.trim()) : rateLimit;
    const expires = expiresAt ? new Date(expiresAt) : null;
    const body: Record<string, unknown> = {
      name,
      scopes,
      rate_limit_per_hour: limit,
      expires_at: expires && !Number.isNaN(expires.getTime()) ? expires.toISOString() : expiresAt || null,
      ip_allowlist: entries.length ? entries : null,
    };
    try {
      if (editing) {
        await api.updateKey(key.id, body);
        onSaved();
        onClose();
      } else {
        setCreated(await api.createKey({ ...body, environment: env, auth_scheme: authScheme }));
        onSaved();
      }
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };

  if (created) {
    return (
      <Dialog title="API key created" onClose={onClose}>
        <ShownOnce created={created} onClose={onClose} />
      </Dialog>
    );
  }
  const general = error ? errorText(error) : "";
  return (
    <Dialog title={editing ? `Edit ${key.name}` : "Create API key"} onClose={onClose}>
      <form onSubmit={submit} noValidate>
        {general && <p class="form-error" role="alert">{general}</p>}
        <Field id="key-name" label="Name" error={errors.name}>
          <input
            id="key-name"
            type="text"
            autoFocus
            value={name}
            required
            maxLength={200}
            aria-invalid={errors.name ? true : undefined}
            aria-describedby={describedBy("key-name", errors.name)}
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </Field>
        {!editing && (
          <Field id="key-environment" label="Environment" error={errors.environment}>
            <select
              id="key-environment"
              value={env}
              aria-describedby={describedBy("key-environment", errors.environment)}
              onChange={(e) => setEnv(e.currentTarget.value as "live" | "test")}
            >
              <option value="live">Live (sk_live_)</option>
              <option value="test">Test (sk_test_)</option>
            </select>
          </Field>
        )}
        {!editing && (
          <Field
            id="key-auth-scheme"
            label="Authentication"
            error={errors.auth_scheme}
            hint="Signed: requests are signed with a secret (P2S-SIGN-V1) instead of sending the key as a Bearer token."
          >
            <select
              id="key-auth-scheme"
              value={authScheme}
              aria-describedby={describedBy("key-auth-scheme", errors.auth_scheme, "hint")}
              onChange={(e) => setAuthScheme(e.currentTarget.value as "bearer" | "signed")}
            >
              <option value="bearer">Bearer key</option>
              <option value="signed">Signed requests (key and secret)</option>
            </select>
          </Field>
        )}
        <fieldset
          class={errors.scopes ? "field invalid" : "field"}
          aria-describedby={errors.scopes ? "key-scopes-error" : "key-scopes-hint"}
        >
          <legend>Scopes</legend>
          {knownScopes.map((scope) => (
            <label class="check" key={scope}>
              <input
                type="checkbox"
                checked={scopes.includes(scope)}
                onChange={(e) =>
                  setScopes(
                    e.currentTarget.checked ? [...scopes, scope] : scopes.filter((held) => held !== scope),
                  )}
              />{" "}
              <code>{scope}</code>
            </label>
          ))}
          <p class="hint" id="key-scopes-hint">None selected: the key may do everything.</p>
          {errors.scopes && <p class="field-error" id="key-scopes-error">{errors.scopes}</p>}
        </fieldset>
        <Field id="key-rate-limit" label="Rate limit per hour" error={errors.rate_limit_per_hour}>
          <input
            id="key-rate-limit"
            type="text"
            inputMode="numeric"
            value={rateLimit}
            aria-invalid={errors.rate_limit_per_hour ? true : undefined}
            aria-describedby={describedBy("key-rate-limit", errors.rate_limit_per_hour)}
            onInput={(e) => setRateLimit(e.currentTarget.value)}
          />
        </Field>
        <Field
          id="key-expires-at"
          label="Expires at"
          error={errors.expires_at}
          hint="Optional; your local time. Empty: never expires."
        >
          <input
            id="key-expires-at"
            type="datetime-local"
            value={expiresAt}
            aria-invalid={errors.expires_at ? true : undefined}
            aria-describedby={describedBy("key-expires-at", errors.expires_at, "hint")}
            onInput={(e) => setExpiresAt(e.currentTarget.value)}
          />
        </Field>
        <Field
          id="key-ip-allowlist"
          label="IP allowlist"
          error={errors.ip_allowlist}
          hint="Optional; one address or CIDR block per line. Empty: any address."
        >
          <textarea
            id="key-ip-allowlist"
            rows={3}
            value={allowlist}
            spellcheck={false}
            aria-invalid={errors.ip_allowlist ? true : undefined}
            aria-describedby={describedBy("key-ip-allowlist", errors.ip_allowlist, "hint")}
            onInput={(e) => setAllowlist(e.currentTarget.value)}
          />
        </Field>
        <div class="actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" class="primary" disabled={busy}>{editing ? "Save" : "Create"}</button>
        </div>
      </form>
    </Dialog>
  );
}

const gracePeriods = [
  { seconds: 0, label: "None: the old key stops now" },
  { seconds: 3600, label: "1 hour" },
  { seconds: 86_400, label: "24 hours" },
  { seconds: 604_800, label: "7 days" },
];

export function RotateDialog(
  { api, apiKey, onClose, onSaved }: { api: ApiClient; apiKey: ApiKey; onClose: () => void; onSaved: () => void },
) {
  const [grace, setGrace] = useState(3600);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<NewApiKey | null>(null);
  if (created) {
    return (
      <Dialog title="API key rotated" onClose={onClose}>
        <ShownOnce created={created} onClose={onClose} />
      </Dialog>
    );
  }
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    try {
      setCreated(await api.rotateKey(apiKey.id, grace));
      onSaved();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title={`Rotate ${apiKey.name}`} onClose={onClose}>
      <form onSubmit={submit}>
        {error !== null && <p class="form-error" role="alert">{errorText(error)}</p>}
        <p>
          A new key with the same settings replaces{" "}
          <code>{apiKey.key_prefix}</code>. During the grace period both work, so your integration can switch over.
        </p>
        <div class="field">
          <label for="rotate-grace">Grace period</label>
          <select id="rotate-grace" autoFocus value={grace} onChange={(e) => setGrace(Number(e.currentTarget.value))}>
            {gracePeriods.map((p) => <option value={p.seconds} key={p.seconds}>{p.label}</option>)}
          </select>
        </div>
        <div class="actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" class="primary" disabled={busy}>Rotate key</button>
        </div>
      </form>
    </Dialog>
  );
}

/** Revoke or delete, after a confirmation. */
export function ConfirmDialog(
  { api, apiKey, action, onClose, onDone }: {
    api: ApiClient;
    apiKey: ApiKey;
    action: "revoke" | "delete";
    onClose: () => void;
    onDone: () => void;
  },
) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const confirm = async () => {
    setBusy(true);
    try {
      await (action === "revoke" ? api.revokeKey(apiKey.id) : api.deleteKey(apiKey.id));
      onDone();
      onClose();
    } catch (failure) {
      setError(failure);
      setBusy(false);
    }
  };
  const revoke = action === "revoke";
  return (
    <Dialog title={`${revoke ? "Revoke" : "Delete"} ${apiKey.name}?`} onClose={onClose}>
      {error !== null && <p class="form-error" role="alert">{errorText(error)}</p>}
      <p>
        {revoke
          ? "Requests with this key are refused from now on. This cannot be undone; the key and its history stay listed."
          : "The key is removed for good, and its request log is no longer shown. Its audit entries stay."}
      </p>
      <p>
        Key: <code>{apiKey.key_prefix}</code>
      </p>
      <div class="actions">
        <button type="button" onClick={onClose} autoFocus>Cancel</button>
        <button type="button" class="danger" disabled={busy} onClick={confirm}>
          {revoke ? "Revoke key" : "Delete key"}
        </button>
      </div>
    </Dialog>
  );
}
