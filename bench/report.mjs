// Turns pusher-load's JSON lines into results.json, gnuplot data + script, and the results section of
// docs/benchmarks.md (between the bench:begin / bench:end markers).
// Usage: node bench/report.mjs RESULTS.jsonl OUT_DIR [DOCS_MD]
import fs from "node:fs";
import path from "node:path";

const [, , resultsPath, outDir, docsPath] = process.argv;
if (!resultsPath || !outDir) {
  console.error("usage: node bench/report.mjs RESULTS.jsonl OUT_DIR [DOCS_MD]");
  process.exit(2);
}
const runs = fs
  .readFileSync(resultsPath, "utf8")
  .split("\n")
  .filter((l) => l.trim())
  .flatMap((l) => {
    try {
      return [JSON.parse(l)];
    } catch {
      return [];
    }
  });
fs.writeFileSync(path.join(outDir, "results.json"), JSON.stringify(runs, null, 1) + "\n");

const fmt = (v, digits = 3) => {
  if (v === null || v === undefined || Number.isNaN(v)) return "";
  if (typeof v !== "number") return String(v);
  const a = Math.abs(v);
  if (a >= 100000) return Math.round(v).toLocaleString("en-US");
  if (a >= 100) return v.toFixed(0);
  return Number(v.toPrecision(digits)).toString();
};
const us = (v) => (v === null || v === undefined ? "" : v >= 10000 ? fmt(v / 1000) + " ms" : fmt(v) + " µs");

// ---- the table: one row per run
const rows = [];
const header = [
  "scenario",
  "target",
  "connections ready",
  "connects/s (wave 1 / 2)",
  "server CPU µs per connection (wave 1 / 2)",
  "server RSS per connection",
  "idle server CPU",
  "delivered msgs/s",
  "latency p50 / p99 / p99.9 / max",
  "server CPU µs per msg",
  "broker CPU µs per msg",
  "lost / misrouted / dup",
  "load generator CPU",
];
for (const r of runs) {
  const w = r.connect?.waves ?? [];
  const d = r.delivery;
  const lat = r.latency_us;
  const receiverCpu = r.receiver === "amqp-drain" ? r.receiver_cpu_us_per_message : r.server?.cpu_us_per_message;
  rows.push([
    r.scenario,
    r.label + (r.receiver === "amqp-drain" ? " (bare rabbitmq-c)" : ""),
    `${r.connect?.ready ?? ""}/${r.connect?.requested ?? ""}`,
    w.map((x) => fmt(x.per_second)).join(" / "),
    w.map((x) => fmt(x.server_cpu_us_per_connection)).join(" / "),
    r.connect?.server_rss_bytes_per_connection != null
      ? fmt(r.connect.server_rss_bytes_per_connection / 1024) + " KiB"
      : "",
    r.idle?.server_cpu_percent != null ? fmt(r.idle.server_cpu_percent) + " %" : "",
    d ? fmt(d.per_second) : "",
    lat && lat.count ? [lat.p50, lat.p99, lat.p999, lat.max].map(us).join(" / ") : "",
    d ? fmt(receiverCpu) : "",
    d ? fmt(r.broker?.cpu_us_per_message) : "",
    d ? `${d.lost} / ${d.misrouted} / ${d.duplicates}` : r.connect?.failed ? `${r.connect.failed} failed` : "",
    r.loadgen_publish_cpu_percent != null ? fmt(r.loadgen_publish_cpu_percent) + " %" : "",
  ]);
}
const table = [
  "| " + header.join(" | ") + " |",
  "|" + header.map(() => "---").join("|") + "|",
  ...rows.map((r) => "| " + r.map((c) => String(c).replace(/\|/g, "\\|")).join(" | ") + " |"),
].join("\n");

// ---- headline comparisons (pusher vs its baselines, same run)
const find = (scenario, label, pred = () => true) =>
  runs.filter((r) => r.scenario === scenario && r.label === label && pred(r)).at(-1);
const ratio = (a, b) => (a != null && b != null && b !== 0 ? ` (×${fmt(a / b, 2)})` : "");
const lines = [];
const fan = (label) => find("s1-fanout", label, (r) => r.params.connections === 1000) ?? find("s1-fanout", label);
if (fan("pusher") || fan("peer")) {
  const p = fan("pusher")?.delivery?.per_second;
  const q = fan("peer")?.delivery?.per_second;
  lines.push(
    `- (1) fan-out, embedded broker, ${fan("pusher")?.params.connections ?? fan("peer")?.params.connections} websocket ` +
      `clients, 100-byte events, 2 server threads: pusher ${fmt(p) || "–"} frames/s, peer ${fmt(q) || "–"}${ratio(p, q)}.`,
  );
}
const s2 = (l) => find("s2-amqp-rate", l);
if (s2("pusher") || s2("peer") || s2("drain")) {
  const part = (l, name) => {
    const r = s2(l);
    if (!r) return `${name} –`;
    const cpu = l === "drain" ? r.receiver_cpu_us_per_message : r.server?.cpu_us_per_message;
    return `${name} ${fmt(cpu)} µs CPU/msg, p99 ${us(r.latency_us?.p99)}`;
  };
  const r = s2("pusher") ?? s2("peer") ?? s2("drain");
  lines.push(
    `- (2) RabbitMQ path, ${r.params.users} users at ${fmt(r.params.rate)} msgs/s: ` +
      [part("pusher", "pusher"), part("peer", "peer"), part("drain", "bare consumer")].join("; ") + ".",
  );
}
const s3 = (l) => find("s3-amqp-max", l)?.delivery?.per_second;
if (find("s3-amqp-max", "pusher") || find("s3-amqp-max", "peer") || find("s3-amqp-max", "drain")) {
  lines.push(
    `- (3) RabbitMQ flat out: pusher ${fmt(s3("pusher")) || "–"} msgs/s, peer ${fmt(s3("peer")) || "–"}, ` +
      `bare rabbitmq-c consumer ${fmt(s3("drain")) || "–"} (pusher/bare${ratio(s3("pusher"), s3("drain")) || " –"}).`,
  );
}
const s4 = (l) => find("s4-connect", l);
if (s4("pusher") || s4("peer") || s4("drain")) {
  const w = (l, i) => s4(l)?.connect?.waves?.[i];
  lines.push(
    `- (4) connection set-up with HS256 token and confirmed binding, distinct users: pusher ` +
      `${fmt(w("pusher", 0)?.per_second) || "–"}/s (${fmt(w("pusher", 0)?.server_cpu_us_per_connection) || "–"} µs ` +
      `CPU each), peer ${fmt(w("peer", 0)?.per_second) || "–"}/s (${fmt(w("peer", 0)?.server_cpu_us_per_connection) || "–"} µs), ` +
      `broker's own pipelined binds ${fmt(w("drain", 0)?.per_second) || "–"}/s; more connections of bound users: ` +
      `pusher ${fmt(w("pusher", 1)?.per_second) || "–"}/s, peer ${fmt(w("peer", 1)?.per_second) || "–"}/s.`,
  );
}
const s5 = (l) => find("s5-idle", l);
if (s5("pusher") || s5("peer")) {
  const part = (l) => {
    const r = s5(l);
    if (!r) return `${l} –`;
    return (
      `${l} ${fmt((r.connect?.server_rss_bytes_per_connection ?? NaN) / 1024)} KiB/connection, ` +
      `idle CPU ${fmt(r.idle?.server_cpu_percent)} %`
    );
  };
  lines.push(`- (5) ${s5("pusher")?.connect?.ready ?? s5("peer")?.connect?.ready} idle websockets: ${part("pusher")}; ${part("peer")}.`);
}
const dirty = runs.filter((r) => !r.ok);
lines.push(
  `- (6) ${runs.length} runs, ${dirty.length} not clean` +
    (dirty.length ? ": " + dirty.map((r) => `${r.scenario}/${r.label}`).join(", ") : " (nothing lost, misrouted or duplicated; every connection ready).") ,
);

// ---- plots
const gp = [];
const plots = [];
const curveRuns = ["pusher", "peer", "drain"].map((l) => s2(l)).filter((r) => r?.latency_curve_us?.length);
if (curveRuns.length) {
  const parts = [];
  for (const r of curveRuns) {
    const file = `latency-${r.label}.dat`;
    const pts = r.latency_curve_us.filter(([q]) => q < 1).map(([q, v]) => `${1 / (1 - q)} ${Math.max(v, 1)}`);
    pts.push(`100000 ${Math.max(r.latency_us.max, 1)}`);
    fs.writeFileSync(path.join(outDir, file), pts.join("\n") + "\n");
    parts.push(`'${file}' using 1:2 with linespoints title '${r.label === "drain" ? "bare rabbitmq-c" : r.label}'`);
  }
  gp.push(
    "set terminal png size 900,540",
    "set output 'latency.png'",
    `set title 'Publish-to-receive latency, ${curveRuns[0].params.users} users at ${curveRuns[0].params.rate} msgs/s (RabbitMQ)'`,
    "set logscale x",
    "set logscale y",
    "set xlabel 'percentile'",
    "set ylabel 'latency (us)'",
    "set xtics ('0%%' 1, '50%%' 2, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, 'max' 100000)",
    "set grid",
    "set key top left",
    "plot " + parts.join(", "),
    "unset xtics",
    "set xtics",
    "unset logscale",
  );
  plots.push("![latency distribution](../bench/results/latency.png)");
}
const fanRuns = runs.filter((r) => r.scenario === "s1-fanout" && r.delivery);
if (fanRuns.length) {
  const labels = [...new Set(fanRuns.map((r) => r.label))];
  const parts = [];
  for (const l of labels) {
    const file = `fanout-${l}.dat`;
    const pts = fanRuns
      .filter((r) => r.label === l)
      .sort((a, b) => a.params.connections - b.params.connections)
      .map((r) => `${r.params.connections} ${r.delivery.per_second}`);
    fs.writeFileSync(path.join(outDir, file), pts.join("\n") + "\n");
    parts.push(`'${file}' using 1:2 with linespoints title '${l}'`);
  }
  gp.push(
    "set terminal png size 900,540",
    "set output 'throughput.png'",
    "set title 'Fan-out on the embedded broker: frames delivered per second vs websocket connections'",
    "set logscale x",
    "set xlabel 'connections'",
    "set ylabel 'frames/s'",
    "set yrange [0:*]",
    "set grid",
    "set key top right",
    "plot " + parts.join(", "),
  );
  plots.push("![throughput vs connections](../bench/results/throughput.png)");
}
fs.writeFileSync(path.join(outDir, "plots.gp"), gp.join("\n") + "\n");

// ---- the docs section
const when = new Date().toISOString().replace(/\.\d+Z$/, "Z");
const section = [
  "<!-- bench:begin (generated by scripts/bench.sh; edits here are overwritten) -->",
  `Run of ${when} on this machine (${process.env.BENCH_MACHINE ?? "2 cores, 24 GiB"}); server, broker and load ` +
    "generator share the cores, so read figures as ±30 %.",
  "",
  ...lines,
  "",
  table,
  "",
  ...plots,
  "<!-- bench:end -->",
].join("\n");
fs.writeFileSync(path.join(outDir, "section.md"), section + "\n");
if (docsPath) {
  let doc = fs.existsSync(docsPath) ? fs.readFileSync(docsPath, "utf8") : "# Benchmarks\n";
  const re = /<!-- bench:begin[\s\S]*?<!-- bench:end -->/;
  doc = re.test(doc) ? doc.replace(re, section) : doc.trimEnd() + "\n\n## Results\n\n" + section + "\n";
  fs.writeFileSync(docsPath, doc);
}
console.log(section);
