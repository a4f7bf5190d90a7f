// Email + password sign-in with Supabase Auth through supabase-js, offered where the page names the
// project (<meta name="salesos-supabase-url"> and its anon key). supabase-js is loaded only then, as
// a chunk of its own. The session's access token is the Dashboard JWT the API takes; it is kept in
// memory, not refreshed: when it expires the API refuses it and the console asks to sign in again.

export interface SupabaseAuthSettings {
  url: string;
  anonKey: string;
}

const meta = (name: string) => document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content.trim() ?? "";

export function supabaseAuthSettings(): SupabaseAuthSettings | null {
  const url = meta("salesos-supabase-url");
  const anonKey = meta("salesos-supabase-anon-key");
  return url && anonKey ? { url, anonKey } : null;
}

/** The access token of a new session of `email`; throws Supabase Auth's reason when refused. */
export async function accessTokenFor(settings: SupabaseAuthSettings, email: string, password: string) {
  const { createClient } = await import("@supabase/supabase-js");
  const client = createClient(settings.url, settings.anonKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
  });
  const { data, error } = await client.auth.signInWithPassword({ email, password });
  if (error || !data.session) throw new Error(error?.message || "Supabase Auth refused the sign-in.");
  return data.session.access_token;
}
