// Requests per hour (or day) of one key, by status class: a uPlot chart (canvas, ~20 KB gzipped)
// with its accessible name and a one-line summary, and the same numbers as a table for anyone who
// cannot see the chart. The API counts 429 refusals within 4xx too: the chart's 4xx line leaves them out.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import type { Usage, UsageCounts } from "./api.ts";
import { formatTime, TableRegion } from "./ui.tsx";

const series = [
  { label: "2xx", stroke: "#1a7f37", count: (b: UsageCounts) => b["2xx"] },
  { label: "4xx (other than 429)", stroke: "#9a6700", count: (b: UsageCounts) => b["4xx"] - b["429"] },
  { label: "429", stroke: "#8250df", count: (b: UsageCounts) => b["429"] },
  { label: "5xx", stroke: "#cf222e", count: (b: UsageCounts) => b["5xx"] },
];

export function UsageChart({ usage }: { usage: Usage }) {
  const element = useRef<HTMLDivElement>(null);
  const name = usage.bucket === "hour" ? "Requests per hour" : "Requests per day";
  useEffect(() => {
    const target = element.current!;
    const data: uPlot.AlignedData = [
      usage.buckets.map((b) => Date.parse(b.start) / 1000),
      ...series.map((s) => usage.buckets.map(s.count)),
    ];
    const width = () => Math.max(260, target.clientWidth);
    const chart = new uPlot(
      {
        width: width(),
        height: 240,
        tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"),
        scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        series: [
          { label: "Hour (UTC)" },
          ...series.map((s) => ({
            label: s.label,
            stroke: s.stroke,
            width: 2,
            points: { show: true, size: 5 },
          })),
        ],
        axes: [{}, { label: "Requests", size: 60 }],
      },
      data,
      target,
    );
    const resize = new ResizeObserver(() => chart.setSize({ width: width(), height: 240 }));
    resize.observe(target);
    return () => {
      resize.disconnect();
      chart.destroy();
    };
  }, [usage]);
  const { totals } = usage;
  return (
    <figure class="usage">
      <div
        ref={element}
        class="chart"
        role="img"
        aria-label={name}
        aria-describedby="usage-summary"
      />
      <figcaption id="usage-summary">
        {`${totals.total} requests from ${formatTime(usage.from)} to ${formatTime(usage.to)}: ` +
          `${totals["2xx"]} 2xx, ${totals["4xx"]} 4xx (${totals["429"]} of them 429), ${totals["5xx"]} 5xx.`}
      </figcaption>
      <details>
        <summary>{name} as a table</summary>
        <TableRegion label={`${name}, table`}>
          <table>
            <caption>{name}</caption>
            <thead>
              <tr>
                <th scope="col">{usage.bucket === "hour" ? "Hour (UTC)" : "Day (UTC)"}</th>
                <th scope="col">Total</th>
                <th scope="col">2xx</th>
                <th scope="col">4xx</th>
                <th scope="col">429</th>
                <th scope="col">5xx</th>
              </tr>
            </thead>
            <tbody>
              {usage.buckets.map((b) => (
                <tr key={b.start}>
                  <th scope="row">{usage.bucket === "hour" ? formatTime(b.start) : b.start.slice(0, 10)}</th>
                  <td class="number">{b.total}</td>
                  <td class="number">{b["2xx"]}</td>
                  <td class="number">{b["4xx"]}</td>
                  <td class="number">{b["429"]}</td>
                  <td class="number">{b["5xx"]}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableRegion>
      </details>
    </figure>
  );
}
