// Pieces every screen shares: times, lists and a key's settings as text, the loading / empty /
// error states, the modal dialog (the browser's <dialog>: focus kept inside, Escape closes), a
// horizontally scrollable table region that the keyboard can scroll, and cursor paging.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiFailure, type ApiKey } from "./api.ts";

/** `2026-03-17 09:15 UTC`: one format, whatever the browser's locale. */
export function formatTime(at: string | null | undefined, seconds = false): string {
  if (!at) return "—";
  const iso = new Date(at).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, seconds ? 19 : 16)} UTC`;
}

// A key's settings as text, the same in the keys table and on the key's page.
export const scopesText = (key: ApiKey) => key.scopes.length ? key.scopes.join(", ") : "all (unrestricted)";
export const ipAllowlistText = (key: ApiKey) => key.ip_allowlist.length ? key.ip_allowlist.join(", ") : "any address";
export const expiresText = (key: ApiKey) => key.expires_at ? formatTime(key.expires_at) : "never";
export const lastUsedText = (key: ApiKey) =>
  key.last_used_at ? `${formatTime(key.last_used_at)} from ${key.last_used_ip ?? "?"}` : "never";

export function errorText(error: unknown): string {
  if (error instanceof ApiFailure) {
    if (error.status === 403) return `You lack the permission for this: ${error.message}.`;
    if (error.status === 429 && error.retryAfter !== undefined) {
      return `${error.message}: try again in ${error.retryAfter} s.`;
    }
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

export function Loading({ what }: { what: string }) {
  return <p class="state" role="status">Loading {what}…</p>;
}

export function ErrorState({ error, retry }: { error: unknown; retry?: () => void }) {
  return (
    <div class="state error" role="alert">
      <p>{errorText(error)}</p>
      {retry && <button type="button" onClick={retry}>Try again</button>}
    </div>
  );
}

/** A scrollable region around a wide table; focusable so that the keyboard can scroll it. */
export function TableRegion({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-region" role="region" aria-label={label} tabIndex={0}>
      {children}
    </div>
  );
}

export interface Paging {
  cursor: string | null;
  previous: (string | null)[];
}

export const firstPage: Paging = { cursor: null, previous: [] };

export function Pager(
  { paging, nextCursor, onChange, label }: {
    paging: Paging;
    nextCursor: string | null;
    onChange: (paging: Paging) => void;
    label: string;
  },
) {
  if (paging.previous.length === 0 && nextCursor === null) return null;
  return (
    <nav class="pager" aria-label={`${label} pages`}>
      <button
        type="button"
        disabled={paging.previous.length === 0}
        onClick={() => onChange({ cursor: paging.previous.at(-1) ?? null, previous: paging.previous.slice(0, -1) })}
      >
        Previous page
      </button>
      <span>Page {paging.previous.length + 1}</span>
      <button
        type="button"
        disabled={nextCursor === null}
        onClick={() => onChange({ cursor: nextCursor, previous: [...paging.previous, paging.cursor] })}
      >
        Next page
      </button>
    </nav>
  );
}

/** A modal dialog, open while mounted; `onClose` hears Escape and every close. */
export function Dialog(
  { title, onClose, children }: { title: string; onClose: () => void; children: ComponentChildren },
) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current!;
    const opener = document.activeElement as HTMLElement | null;
    dialog.showModal();
    return () => {
      dialog.close();
      opener?.focus();
    };
  }, []);
  const titleId = `dialog-${title.replace(/\W+/g, "-").toLowerCase()}`;
  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
    >
      <h2 id={titleId}>{title}</h2>
      {children}
    </dialog>
  );
}

/** `load()` run on mount and whenever `deps` change; `reload` runs it again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const [state, setState] = useState<{ data?: T; error?: unknown }>({});
  const [round, setRound] = useState(0);
  useEffect(() => {
    let current = true;
    setState((previous) => ({ data: previous.data }));
    load().then(
      (data) => current && setState({ data }),
      (error) => current && setState({ error }),
    );
    return () => {
      current = false;
    };
  }, [...deps, round]);
  return { ...state, reload: () => setRound((n) => n + 1) };
}

/** A read-only field with a Copy button: a key or secret shown this once. */
export function SecretField(
  { label, value, id, focus = false }: { label: string; value: string; id: string; focus?: boolean },
) {
  const [copied, setCopied] = useState<string>("");
  // Shown in place of the form that made it: focus moves here, so that it is read out first.
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (focus) input.current?.focus();
  }, []);
  const copy = async () => {
    input.current!.select();
    try {
      await navigator.clipboard.writeText(value);
      setCopied("Copied to the clipboard.");
    } catch {
      setCopied("Could not copy: the text is selected, press Ctrl+C (⌘C).");
    }
  };
  return (
    <div class="field secret">
      <label for={id}>{label}</label>
      <div class="with-button">
        <input ref={input} id={id} type="text" readOnly value={value} spellcheck={false} autocomplete="off" />
        <button type="button" onClick={copy}>Copy</button>
      </div>
      <p class="hint" role="status">{copied}</p>
    </div>
  );
}
