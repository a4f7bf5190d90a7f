// The Integrations console: sign in with an access token, pick a tenant when the user manages
// several, then the API keys, a key's usage and request log, and the audit log. Routes live in the
// URL's hash (#/keys, #/keys/<id>, #/audit), so that any static host serves the page as it is.
// The token is held in memory only: reloading the page signs out.
import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import "uplot/dist/uPlot.min.css";
import "../app.css";
import { type ApiClient, apiClient, ApiFailure, type Session } from "./api.ts";
import { AuditScreen } from "./audit.tsx";
import { KeyPage } from "./key_page.tsx";
import { KeysScreen } from "./keys.tsx";
import { errorText } from "./ui.tsx";

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function useHashRoute(): string {
  const [route, setRoute] = useState(location.hash.slice(1) || "/keys");
  useEffect(() => {
    const changed = () => setRoute(location.hash.slice(1) || "/keys");
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return route;
}

const needsTenant = (error: unknown) =>
  error instanceof ApiFailure && error.status === 400 && error.details.some((d) => d.field === "X-Tenant-Id");

function SignIn(
  { reason, onSignedIn }: { reason: string; onSignedIn: (session: Session, severalTenants: boolean) => void },
) {
  const [token, setToken] = useState("");
  const [tenantId, setTenantId] = useState("");
  const [askTenant, setAskTenant] = useState(false);
  const [message, setMessage] = useState(reason);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    const session: Session = { token: token.trim(), tenantId: tenantId.trim() || null };
    if (!session.token) return setMessage("Enter an access token.");
    if (session.tenantId && !uuid.test(session.tenantId)) {
      return setMessage("A tenant ID is a uuid, such as 0b6d3c1e-5f2a-4c8e-9b7d-1a2e3f4c5d6e.");
    }
    setBusy(true);
    setMessage("");
    try {
      await apiClient(session, () => {}).probe();
      onSignedIn(session, askTenant);
    } catch (error) {
      if (needsTenant(error)) {
        setAskTenant(true);
        setMessage("You manage API keys in several tenants: enter the ID of the tenant to manage.");
      } else if (error instanceof ApiFailure && error.status === 403) {
        setMessage(
          `You lack the permission to manage API keys in this tenant (${error.message}). ` +
            "Ask an owner or admin of the tenant.",
        );
      } else {
        setMessage(errorText(error));
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="sign-in" id="main">
      <h1>Sign in to Integrations</h1>
      <p>Manage your tenant's API keys, their usage and the audit log.</p>
      {message && <p class="form-error" role="alert">{message}</p>}
      <form onSubmit={submit} noValidate>
        <div class="field">
          <label for="access-token">Access token</label>
          <input
            id="access-token"
            type="password"
            autoFocus
            autocomplete="off"
            spellcheck={false}
            value={token}
            aria-describedby="access-token-hint"
            onInput={(e) => setToken(e.currentTarget.value)}
          />
          <p class="hint" id="access-token-hint">
            A Dashboard access token (JWT) of an owner or admin; locally: <code>deno task token --tenant acme</code>.
          </p>
        </div>
        <div class="field">
          <label for="tenant-id">Tenant ID{askTenant ? "" : " (only if you manage several tenants)"}</label>
          <input
            id="tenant-id"
            type="text"
            spellcheck={false}
            value={tenantId}
            onInput={(e) => setTenantId(e.currentTarget.value)}
          />
        </div>
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>Sign in</button>
        </div>
      </form>
    </main>
  );
}

function Screens({ api, route }: { api: ApiClient; route: string }) {
  const [environment, setEnvironment] = useState<"live" | "test">("live");
  const keyPage = /^\/keys\/([^/]+)$/.exec(route);
  if (keyPage) return <KeyPage api={api} keyId={decodeURIComponent(keyPage[1])} />;
  if (route === "/audit") return <AuditScreen api={api} />;
  return <KeysScreen api={api} environment={environment} onEnvironment={setEnvironment} />;
}

function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [severalTenants, setSeveralTenants] = useState(false);
  const [reason, setReason] = useState("");
  const route = useHashRoute();
  const api = useMemo(
    () =>
      session &&
      apiClient(session, (message) => {
        setReason(`You were signed out: ${message}.`);
        setSession(null);
      }),
    [session],
  );
  useEffect(() => {
    document.title = session ? "Integrations · SalesOS" : "Sign in · Integrations · SalesOS";
  }, [session]);

  if (!session || !api) {
    return (
      <SignIn
        reason={reason}
        onSignedIn={(next, several) => {
          setReason("");
          setSeveralTenants(several);
          setSession(next);
        }}
      />
    );
  }
  const signOut = (message: string) => {
    setReason(message);
    setSession(null);
  };
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById("main")?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <span class="brand">SalesOS · Integrations</span>
        <nav aria-label="Console">
          <a href="#/keys" aria-current={route.startsWith("/keys") ? "page" : undefined}>API keys</a>
          <a href="#/audit" aria-current={route === "/audit" ? "page" : undefined}>Audit log</a>
        </nav>
        <span class="tenant">{session.tenantId ? `Tenant ${session.tenantId}` : "Your tenant"}</span>
        {severalTenants && (
          <button
            type="button"
            onClick={() => signOut("Enter the access token and the ID of another tenant.")}
          >
            Switch tenant
          </button>
        )}
        <button type="button" onClick={() => signOut("You signed out.")}>Sign out</button>
      </header>
      <main id="main" tabIndex={-1}>
        <Screens api={api} route={route} />
      </main>
    </>
  );
}

const root = document.getElementById("app")!;
root.replaceChildren(); // the "Loading the console…" placeholder
render(<App />, root);
