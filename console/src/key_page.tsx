// One key's page: its settings, its usage chart over a chosen range, and its request log.
import { useState } from "preact/hooks";
import type { ApiClient, ApiKey, RequestLogEntry } from "./api.ts";
import { UsageChart } from "./usage_chart.tsx";
import {
  ErrorState,
  expiresText,
  firstPage,
  formatTime,
  ipAllowlistText,
  lastUsedText,
  Loading,
  Pager,
  type Paging,
  scopesText,
  TableRegion,
  useLoad,
} from "./ui.tsx";

const ranges = {
  "24h": { label: "Last 24 hours, by hour", hours: 24, bucket: "hour" },
  "7d": { label: "Last 7 days, by hour", hours: 24 * 7, bucket: "hour" },
  "30d": { label: "Last 30 days, by day", hours: 24 * 30, bucket: "day" },
} as const;
type Range = keyof typeof ranges;

function usageRange(range: Range) {
  const { hours, bucket } = ranges[range];
  const unit = bucket === "hour" ? 3_600_000 : 86_400_000;
  // The bucket that holds now is the last one shown.
  const to = (Math.floor(Date.now() / unit) + 1) * unit;
  return { from: new Date(to - hours * 3_600_000).toISOString(), to: new Date(to).toISOString(), bucket };
}

function Settings({ apiKey }: { apiKey: ApiKey }) {
  const rows: [string, string][] = [
    ["Key prefix", apiKey.key_prefix],
    ["Environment", apiKey.environment],
    ["Authentication", apiKey.auth_scheme === "signed" ? "signed requests (P2S-SIGN-V1)" : "bearer"],
    ["Status", apiKey.status],
    ["Scopes", scopesText(apiKey)],
    ["Rate limit per hour", String(apiKey.rate_limit_per_hour)],
    ["IP allowlist", ipAllowlistText(apiKey)],
    ["Expires", expiresText(apiKey)],
    ["Created", formatTime(apiKey.created_at)],
    ["Revoked", formatTime(apiKey.revoked_at)],
    ["Last used", lastUsedText(apiKey)],
    ["Requests in all", String(apiKey.request_count)],
  ];
  return (
    <dl class="settings">
      {rows.map(([term, value]) => (
        <div key={term}>
          <dt>{term}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

function itemsText(counts: RequestLogEntry["item_counts"]): string {
  if (!counts) return "—";
  return Object.entries(counts).map(([name, n]) => `${name} ${n}`).join(", ") || "—";
}

function RequestLog({ api, keyId }: { api: ApiClient; keyId: string }) {
  const [paging, setPaging] = useState<Paging>(firstPage);
  const log = useLoad(() => api.requests(keyId, paging.cursor), [keyId, paging]);
  return (
    <section aria-labelledby="request-log-title">
      <div class="screen-head">
        <h2 id="request-log-title">Request log</h2>
        <button type="button" onClick={log.reload}>Refresh</button>
      </div>
      {log.error !== undefined
        ? <ErrorState error={log.error} retry={log.reload} />
        : !log.data
        ? <Loading what="the request log" />
        : log.data.items.length === 0 && paging.previous.length === 0
        ? <p class="state empty">No requests with this key in the last 90 days.</p>
        : (
          <>
            <TableRegion label="Request log, scrollable">
              <table aria-label="Request log">
                <thead>
                  <tr>
                    <th scope="col">Time</th>
                    <th scope="col">Status</th>
                    <th scope="col">Action</th>
                    <th scope="col">Items</th>
                    <th scope="col">IP</th>
                    <th scope="col">Latency</th>
                    <th scope="col">Request ID</th>
                  </tr>
                </thead>
                <tbody>
                  {log.data.items.map((entry) => (
                    <tr key={entry.request_id}>
                      <td>{formatTime(entry.time, true)}</td>
                      <td class="number">{entry.status}</td>
                      <td>{entry.action ?? "—"}</td>
                      <td>{itemsText(entry.item_counts)}</td>
                      <td>{entry.ip ?? "—"}</td>
                      <td class="number">{entry.latency_ms} ms</td>
                      <td>
                        <code>{entry.request_id}</code>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableRegion>
            <Pager paging={paging} nextCursor={log.data.nextCursor} onChange={setPaging} label="Request log" />
          </>
        )}
    </section>
  );
}

function Usage({ api, keyId }: { api: ApiClient; keyId: string }) {
  const [range, setRange] = useState<Range>("24h");
  const usage = useLoad(() => api.usage(keyId, usageRange(range)), [keyId, range]);
  return (
    <section aria-labelledby="usage-title">
      <div class="screen-head">
        <h2 id="usage-title">Usage</h2>
        <label for="usage-range">Range</label>
        <select id="usage-range" value={range} onChange={(e) => setRange(e.currentTarget.value as Range)}>
          {Object.entries(ranges).map(([value, r]) => <option value={value} key={value}>{r.label}</option>)}
        </select>
        <button type="button" onClick={usage.reload}>Refresh</button>
      </div>
      {usage.error !== undefined
        ? <ErrorState error={usage.error} retry={usage.reload} />
        : !usage.data
        ? <Loading what="usage" />
        : <UsageChart usage={usage.data} />}
    </section>
  );
}

export function KeyPage({ api, keyId }: { api: ApiClient; keyId: string }) {
  const key = useLoad(() => api.getKey(keyId), [keyId]);
  return (
    <section aria-labelledby="key-title">
      <p>
        <a href="#/keys">← API keys</a>
      </p>
      {key.error !== undefined
        ? (
          <>
            <h1 id="key-title">API key</h1>
            <ErrorState error={key.error} retry={key.reload} />
          </>
        )
        : !key.data
        ? (
          <>
            <h1 id="key-title">API key</h1>
            <Loading what="the key" />
          </>
        )
        : (
          <>
            <h1 id="key-title">{key.data.name}</h1>
            <Settings apiKey={key.data} />
            <Usage api={api} keyId={keyId} />
            <RequestLog api={api} keyId={keyId} />
          </>
        )}
    </section>
  );
}
