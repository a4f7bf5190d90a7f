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
import { accessTokenFor, supabaseAuthSettings } from "./supabase_auth.ts";
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
  const supabase = useMemo(supabaseAuthSettings, []);
  const [token, setToken] = useState("");
  const [tenantId, setTenantId] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [askTenant, setAskTenant] = useState(false);
  const [message, setMessage] = useState(reason);
  const [busy, setBusy] = useState(false);

  /** Proves `accessToken` (and the tenant) with one request, then opens the console. */
  const start = async (accessToken: string) => {
    const session: Session = { token: accessToken, tenantId: tenantId.trim() || null };
    if (session.tenantId && !uuid.test(session.tenantId)) {
      return setMessage("A tenant ID is a uuid, such as 0b6d3c1e-5f2a-4c8e-9b7d-1a2e3f4c5d6e.");
    }
    try {
      await apiClient(session, () => {}).probe();
      onSignedIn(session, askTenant);
    } catch (error) {
      if (needsTenant(error)) {
        // The token stays in its field: with a tenant ID, Sign in goes on.
        setToken(accessToken);
        setAskTenant(true);
        setMessage("You manage API keys in several tenants: enter the ID of the tenant to manage, then Sign in.");
      } else if (error instanceof ApiFailure && error.status === 403) {
        setMessage(
          `You lack the permission to manage API keys in this tenant (${error.message}). ` +
            "Ask an owner or admin of the tenant.",
        );
      } else {
        setMessage(errorText(error));
      }
    }
  };
  const submitting = (work: () => Promise<unknown>) => async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setMessage("");
    try {
      await work();
    } finally {
      setBusy(false);
    }
  };
  const withToken = submitting(async () => {
    if (!token.trim()) return setMessage("Enter an access token.");
    await start(token.trim());
  });
  const withPassword = submitting(async () => {
    if (!supabase) return;
    let accessToken: string;
    try {
      accessToken = await accessTokenFor(supabase, email.trim(), password);
    } catch (error) {
      return setMessage(`Sign-in refused: ${errorText(error)}`);
    }
    setPassword("");
    await start(accessToken);
  });

  return (
    <main class="sign-in" id="main">
      <h1>Sign in to Integrations</h1>
      <p>Manage your tenant's API keys, their usage and the audit log.</p>
      {message && <p class="form-error" role="alert">{message}</p>}
      {supabase && (
        <form onSubmit={withPassword} noValidate aria-labelledby="email-sign-in">
          <h2 id="email-sign-in">With your Dashboard account</h2>
          <div class="field">
            <label for="email">Email</label>
            <input
              id="email"
              type="email"
              autocomplete="username"
              value={email}
              onInput={(e) => setEmail(e.currentTarget.value)}
            />
          </div>
          <div class="field">
            <label for="password">Password</label>
            <input
              id="password"
              type="password"
              autocomplete="current-password"
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
            />
          </div>
          <div class="actions">
            <button type="submit" class="primary" disabled={busy}>Sign in with email</button>
          </div>
        </form>
      )}
      <form onSubmit={withToken} noValidate aria-labelledby="token-sign-in">
        <h2 id="token-sign-in" class={supabase ? "" : "visually-hidden"}>
          {supabase ? "Or with an access token" : "With an access token"}
        </h2>
        <div class="field">
          <label for="access-token">Access token</label>
          <input
            id="access-token"
            type="password"
            autoFocus={!supabase}
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
