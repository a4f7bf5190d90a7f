// The tenant's audit log: who did what to which key, when and from where, newest first.
import { useState } from "preact/hooks";
import type { ApiClient, AuditEntry } from "./api.ts";
import { ErrorState, firstPage, formatTime, Loading, Pager, type Paging, TableRegion, useLoad } from "./ui.tsx";

function actorText(actor: AuditEntry["actor"]): string {
  if (actor.type === "user") return actor.email ?? actor.id ?? "a user";
  return actor.type === "cli" ? "local tool" : "platform (service_role)";
}

function changesText(changes: AuditEntry["changes"]): string {
  return changes ? JSON.stringify(changes) : "—";
}

export function AuditScreen({ api }: { api: ApiClient }) {
  const [paging, setPaging] = useState<Paging>(firstPage);
  const audit = useLoad(() => api.audit(paging.cursor), [paging]);
  return (
    <section aria-labelledby="audit-title">
      <div class="screen-head">
        <h1 id="audit-title">Audit log</h1>
        <button type="button" onClick={audit.reload}>Refresh</button>
      </div>
      {audit.error !== undefined
        ? <ErrorState error={audit.error} retry={audit.reload} />
        : !audit.data
        ? <Loading what="the audit log" />
        : audit.data.items.length === 0 && paging.previous.length === 0
        ? <p class="state empty">Nothing was done to this tenant's keys yet.</p>
        : (
          <>
            <TableRegion label="Audit log, scrollable">
              <table aria-label="Audit log">
                <thead>
                  <tr>
                    <th scope="col">Time</th>
                    <th scope="col">Action</th>
                    <th scope="col">By</th>
                    <th scope="col">Key</th>
                    <th scope="col">From IP</th>
                    <th scope="col">Changes</th>
                  </tr>
                </thead>
                <tbody>
                  {audit.data.items.map((entry) => (
                    <tr key={entry.id}>
                      <td>{formatTime(entry.time, true)}</td>
                      <td>{entry.action}</td>
                      <td>{actorText(entry.actor)}</td>
                      <td>
                        {entry.key_prefix ? <code>{entry.key_prefix}</code> : "—"}
                      </td>
                      <td>{entry.source_ip ?? "—"}</td>
                      <td class="changes">{changesText(entry.changes)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableRegion>
            <Pager paging={paging} nextCursor={audit.data.nextCursor} onChange={setPaging} label="Audit log" />
          </>
        )}
    </section>
  );
}
