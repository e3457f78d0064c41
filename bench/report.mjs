// Turns pusher-load's JSON lines into results.json, gnuplot data + script, and the results section of
// docs/benchmarks.md (between the bench:begin / bench:end markers): the issue's targets with the measured value,
// the baseline measured in the same run, the ratio and whether the target is met; then one row per scenario point
// and target. Repeated runs (BENCH_REPEAT) are reduced to medians; loss, misrouting and failures are summed.
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
const median = (xs) => {
  const v = xs.filter((x) => typeof x === "number" && !Number.isNaN(x)).sort((a, b) => a - b);
  if (!v.length) return undefined;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const sum = (xs) => xs.reduce((a, x) => a + (typeof x === "number" ? x : 0), 0);
const range = (xs) => {
  const v = xs.filter((x) => typeof x === "number");
  if (!v.length) return "";
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  return lo === hi ? fmt(lo) : `${fmt(lo)}–${fmt(hi)}`;
};

// ---- one group per scenario point and target, in the order the runs came
const receiverCpu = (r) => (r.receiver === "amqp-drain" ? r.receiver_cpu_us_per_message : r.server?.cpu_us_per_message);
const groups = [];
const byKey = new Map();
for (const r of runs) {
  const key = `${r.scenario}|${r.label}|${r.params?.connections}`;
  if (!byKey.has(key)) {
    const g = { key, scenario: r.scenario, label: r.label, connections: r.params?.connections, runs: [] };
    byKey.set(key, g);
    groups.push(g);
  }
  byKey.get(key).runs.push(r);
}
for (const g of groups) {
  const rs = g.runs;
  const waves = Math.max(0, ...rs.map((r) => r.connect?.waves?.length ?? 0));
  // The run whose p99 is the median one: its latency curve is what the plot shows.
  const withLat = rs.filter((r) => r.latency_us?.count);
  const p99s = withLat.map((r) => r.latency_us.p99).sort((a, b) => a - b);
  g.typical = withLat.find((r) => r.latency_us.p99 === p99s[Math.floor((p99s.length - 1) / 2)]);
  g.m = {
    n: rs.length,
    receiver: rs[0].receiver,
    ready: median(rs.map((r) => r.connect?.ready)),
    requested: rs[0].connect?.requested,
    failed: sum(rs.map((r) => r.connect?.failed ?? 0)),
    wave_rate: [...Array(waves).keys()].map((i) => median(rs.map((r) => r.connect?.waves?.[i]?.per_second))),
    wave_cpu: [...Array(waves).keys()].map((i) =>
      median(rs.map((r) => r.connect?.waves?.[i]?.server_cpu_us_per_connection)),
    ),
    wave_broker_cpu: [...Array(waves).keys()].map((i) =>
      median(rs.map((r) => r.connect?.waves?.[i]?.broker_cpu_us_per_connection)),
    ),
    wave_loadgen_cpu: [...Array(waves).keys()].map((i) =>
      median(rs.map((r) => r.connect?.waves?.[i]?.loadgen_cpu_us_per_connection)),
    ),
    rss: median(rs.map((r) => r.connect?.server_rss_bytes_per_connection)),
    idle: median(rs.map((r) => r.idle?.server_cpu_percent)),
    rate: median(rs.map((r) => r.delivery?.per_second)),
    p50: median(withLat.map((r) => r.latency_us.p50)),
    p99: median(withLat.map((r) => r.latency_us.p99)),
    p999: median(withLat.map((r) => r.latency_us.p999)),
    max: median(withLat.map((r) => r.latency_us.max)),
    p99_range: range(withLat.map((r) => r.latency_us.p99 / 1000)),
    cpu: median(rs.map(receiverCpu)),
    cpu_range: range(rs.map(receiverCpu)),
    broker_cpu: median(rs.map((r) => r.broker?.cpu_us_per_message)),
    lost: sum(rs.map((r) => r.delivery?.lost ?? 0)),
    misrouted: sum(rs.map((r) => r.delivery?.misrouted ?? 0)),
    dup: sum(rs.map((r) => r.delivery?.duplicates ?? 0)),
    has_delivery: rs.some((r) => r.delivery),
    loadgen: median(rs.map((r) => r.loadgen_publish_cpu_percent)),
    load: range(rs.flatMap((r) => [r.loadavg_before, r.loadavg_after].map((l) => parseFloat(l)))),
    rate_range: range(rs.map((r) => r.delivery?.per_second)),
  };
}
const group = (scenario, label, connections) =>
  groups.find((g) => g.scenario === scenario && g.label === label && (connections == null || g.connections === connections));

// ---- the targets of issue 6, each against its baseline of the same run
const targets = [];
const ratio = (a, b) => (a != null && b != null && b !== 0 ? a / b : undefined);
const x = (v) => (v === undefined ? "–" : `×${fmt(v, 2)}`);
const yes = (ok) => (ok === undefined ? "–" : ok ? "**yes**" : "no");
const target = (n, what, measured, baseline, r, met, note = "") => targets.push([n, what, measured, baseline, r, met, note]);
{
  // Target 1 at two loads: s1 (at most 10 broadcasts in flight) and s1-burst (100 in flight).
  for (const scenario of ["s1-fanout", "s1-burst"]) {
    const p = group(scenario, "pusher", 1000) ?? group(scenario, "pusher");
    const one = group(scenario, "pusher-1write", p?.connections);
    const peer = group(scenario, "peer", p?.connections);
    if (!p && !peer) continue;
    const rate = p?.m.rate;
    const window = (p ?? peer).runs[0].params.window;
    target(
      "1",
      `fan-out, embedded broker, ${p?.connections ?? peer?.connections} websockets, 100 B, ${window} broadcasts in ` +
        "flight: ≥ 1,000,000 frames/s",
      `${fmt(rate) || "–"} frames/s (runs: ${p?.m.rate_range || "–"})`,
      `peer ${fmt(peer?.m.rate) || "–"}`,
      x(ratio(rate, peer?.m.rate)) + " peer",
      yes(rate === undefined ? undefined : rate >= 1e6),
    );
    target(
      "1",
      `… and ≥ 8× one write per frame (${window} in flight)`,
      `${fmt(p?.m.cpu)} µs CPU/frame`,
      `1 write/frame: ${fmt(one?.m.rate) || "–"} frames/s, ${fmt(one?.m.cpu) || "–"} µs CPU/frame`,
      `${x(ratio(rate, one?.m.rate))} frames/s, ${x(ratio(one?.m.cpu, p?.m.cpu))} less CPU/frame`,
      yes(one ? ratio(rate, one.m.rate) >= 8 : undefined),
    );
  }
  const s2 = (l) => group("s2-amqp-rate", l);
  if (s2("pusher") || s2("peer") || s2("drain")) {
    const p2 = s2("pusher")?.m;
    target(
      "2",
      `RabbitMQ, ${s2("pusher")?.connections ?? ""} users at ${fmt((s2("pusher") ?? s2("peer"))?.runs[0].params.rate)} msgs/s: server CPU ≤ 3 µs/msg`,
      `${fmt(p2?.cpu) || "–"} µs (runs: ${p2?.cpu_range || "–"})`,
      `peer ${fmt(s2("peer")?.m.cpu) || "–"} µs; bare rabbitmq-c consumer ${fmt(s2("drain")?.m.cpu) || "–"} µs`,
      `${x(ratio(s2("peer")?.m.cpu, p2?.cpu))} less than peer; ${x(ratio(p2?.cpu, s2("drain")?.m.cpu))} bare`,
      yes(p2?.cpu === undefined ? undefined : p2.cpu <= 3),
    );
    target(
      "2",
      "… p99 publish-to-receive ≤ 5 ms",
      `${us(p2?.p99) || "–"} (runs: ${p2?.p99_range ? p2.p99_range + " ms" : "–"})`,
      `peer ${us(s2("peer")?.m.p99) || "–"}; bare ${us(s2("drain")?.m.p99) || "–"}`,
      `${x(ratio(s2("peer")?.m.p99, p2?.p99))} lower than peer; ${x(ratio(p2?.p99, s2("drain")?.m.p99))} bare`,
      yes(p2?.p99 === undefined ? undefined : p2.p99 <= 5000),
    );
  }
  const s3 = (l) => group("s3-amqp-max", l)?.m;
  if (s3("pusher") || s3("drain")) {
    const r = ratio(s3("pusher")?.rate, s3("drain")?.rate);
    target(
      "3",
      "RabbitMQ flat out: ≥ 0.8× a bare rabbitmq-c consumer",
      `${fmt(s3("pusher")?.rate) || "–"} msgs/s (runs: ${s3("pusher")?.rate_range || "–"})`,
      `bare ${fmt(s3("drain")?.rate) || "–"} (runs: ${s3("drain")?.rate_range || "–"}); peer ${fmt(s3("peer")?.rate) || "–"}`,
      `${x(r)} bare; ${x(ratio(s3("pusher")?.rate, s3("peer")?.rate))} peer`,
      yes(r === undefined ? undefined : r >= 0.8),
    );
  }
  const s4 = (l) => group("s4-connect", l)?.m;
  if (s4("pusher") || s4("drain")) {
    const r = ratio(s4("pusher")?.wave_rate[0], s4("drain")?.wave_rate[0]);
    // Where the two cores went per connection: the limit on this machine (everything shares them).
    const cpuSplit = (m, own) =>
      m && m.wave_broker_cpu[0] != null
        ? ` (CPU µs each: ${own ? `server ${fmt(m.wave_cpu[0])}, ` : ""}RabbitMQ ${fmt(m.wave_broker_cpu[0])}, ` +
          `load generator ${fmt(m.wave_loadgen_cpu[0])})`
        : "";
    target(
      "4",
      "connection set-up, distinct users (token + confirmed bind): ≥ 0.9× the broker's pipelined bind rate",
      `${fmt(s4("pusher")?.wave_rate[0]) || "–"}/s${cpuSplit(s4("pusher"), true)}`,
      `binds ${fmt(s4("drain")?.wave_rate[0]) || "–"}/s${cpuSplit(s4("drain"), false)}; peer ${fmt(s4("peer")?.wave_rate[0]) || "–"}/s`,
      `${x(r)} binds; ${x(ratio(s4("pusher")?.wave_rate[0], s4("peer")?.wave_rate[0]))} peer`,
      yes(r === undefined ? undefined : r >= 0.9),
    );
    const cpu = s4("pusher")?.wave_cpu[0];
    target(
      "4",
      "… server CPU ≤ 50 µs per connection",
      `${fmt(cpu) || "–"} µs`,
      `peer ${fmt(s4("peer")?.wave_cpu[0]) || "–"} µs`,
      `${x(ratio(s4("peer")?.wave_cpu[0], cpu))} less than peer`,
      yes(cpu === undefined ? undefined : cpu <= 50),
    );
    const w2 = s4("pusher")?.wave_rate[1];
    target(
      "4",
      "… more connections of already-bound users ≥ 20,000/s",
      `${fmt(w2) || "–"}/s (${fmt(s4("pusher")?.wave_cpu[1]) || "–"} µs CPU each)`,
      `peer ${fmt(s4("peer")?.wave_rate[1]) || "–"}/s`,
      `${x(ratio(w2, s4("peer")?.wave_rate[1]))} peer`,
      yes(w2 === undefined ? undefined : w2 >= 20000),
    );
  }
  const s5 = (l) => group("s5-idle", l);
  if (s5("pusher") || s5("peer")) {
    const p5 = s5("pusher")?.m;
    const q5 = s5("peer")?.m;
    target(
      "5",
      `${s5("pusher")?.connections ?? s5("peer")?.connections} idle websockets: ≤ 4 KiB RSS per connection`,
      `${fmt((p5?.rss ?? NaN) / 1024) || "–"} KiB`,
      `peer ${fmt((q5?.rss ?? NaN) / 1024) || "–"} KiB`,
      `${x(ratio(q5?.rss, p5?.rss))} less than peer`,
      yes(p5?.rss === undefined ? undefined : p5.rss <= 4096),
    );
    target(
      "5",
      "… idle CPU < 2 % of a core (default heartbeats)",
      `${fmt(p5?.idle) || "–"} %`,
      `peer ${fmt(q5?.idle) || "–"} %`,
      "",
      yes(p5?.idle === undefined ? undefined : p5.idle < 2),
    );
  }
  // Connection state recovery on (the default) against off (--recovery-ms 0), same runs.
  const n2 = s2("pusher-norecovery")?.m;
  const p2r = s2("pusher")?.m;
  if (n2 && p2r) {
    target(
      "R",
      "recovery on: server CPU per message (s2) ≤ +10 % of recovery off",
      `${fmt(p2r.cpu) || "–"} µs`,
      `off ${fmt(n2.cpu) || "–"} µs (runs: ${n2.cpu_range || "–"})`,
      x(ratio(p2r.cpu, n2.cpu)),
      yes(p2r.cpu <= 1.1 * n2.cpu),
    );
  }
  const n5 = s5("pusher-norecovery")?.m;
  const p5r = s5("pusher")?.m;
  if (n5 && p5r) {
    target(
      "R",
      "recovery on: RSS per idle session (s5) ≤ +1 KiB of recovery off",
      `${fmt(p5r.rss / 1024) || "–"} KiB`,
      `off ${fmt(n5.rss / 1024) || "–"} KiB`,
      `${fmt((p5r.rss - n5.rss) / 1024, 2)} KiB more`,
      yes(p5r.rss - n5.rss <= 1024),
    );
  }
  // Channel fan-out (s9) against a broadcast to the same connections, same run.
  const ch = group("s9-channel", "pusher-channel");
  const bc = group("s9-channel", "pusher-broadcast");
  if (ch && bc) {
    target(
      "C",
      `channel fan-out: one channel with ${ch.connections} members, 100 B, 10 in flight: ≥ a broadcast to them`,
      `${fmt(ch.m.rate) || "–"} frames/s (runs: ${ch.m.rate_range || "–"}), ${fmt(ch.m.cpu) || "–"} µs CPU/frame`,
      `broadcast ${fmt(bc.m.rate) || "–"} frames/s (runs: ${bc.m.rate_range || "–"}), ${fmt(bc.m.cpu) || "–"} µs CPU/frame`,
      x(ratio(ch.m.rate, bc.m.rate)),
      yes(ch.m.rate >= bc.m.rate),
    );
  }
  const dirty = runs.filter((r) => !r.ok);
  const lost = sum(runs.map((r) => r.delivery?.lost ?? 0));
  const misrouted = sum(runs.map((r) => r.delivery?.misrouted ?? 0));
  const dup = sum(runs.map((r) => r.delivery?.duplicates ?? 0));
  const failed = sum(runs.map((r) => r.connect?.failed ?? 0));
  target(
    "6",
    "nothing lost or misrouted in any run",
    `${runs.length} runs: ${lost} lost, ${misrouted} misrouted, ${dup} duplicated, ${failed} connections failed`,
    "",
    "",
    yes(runs.length ? dirty.length === 0 && lost + misrouted + dup + failed === 0 : undefined),
    dirty.length ? "not clean: " + dirty.map((r) => `${r.scenario}/${r.label}`).join(", ") : "",
  );
}
const targetTable = [
  "| # | target | pusher (median) | baseline, same run (median) | ratio | met? |",
  "|---|---|---|---|---|---|",
  ...targets.map((t) => "| " + t.slice(0, 6).map((c) => String(c).replace(/\|/g, "\\|")).join(" | ") + " |"),
].join("\n");

// ---- the full table: one row per scenario point and target (medians of the repeated runs)
const header = [
  "scenario",
  "target",
  "runs",
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
  "load average",
];
const rows = groups.map((g) => {
  const m = g.m;
  return [
    g.scenario,
    g.label + (m.receiver === "amqp-drain" ? " (bare rabbitmq-c)" : g.label === "pusher-1write" ? " (1 write/frame)" : ""),
    m.n,
    `${fmt(m.ready)}/${m.requested ?? ""}`,
    m.wave_rate.map((v) => fmt(v)).join(" / "),
    m.wave_cpu.map((v) => fmt(v)).join(" / "),
    m.rss != null ? fmt(m.rss / 1024) + " KiB" : "",
    m.idle != null ? fmt(m.idle) + " %" : "",
    m.has_delivery ? fmt(m.rate) : "",
    m.p99 != null ? [m.p50, m.p99, m.p999, m.max].map(us).join(" / ") : "",
    m.has_delivery ? fmt(m.cpu) : "",
    m.has_delivery ? fmt(m.broker_cpu) : "",
    m.has_delivery ? `${m.lost} / ${m.misrouted} / ${m.dup}` : m.failed ? `${m.failed} failed` : "",
    m.loadgen != null ? fmt(m.loadgen) + " %" : "",
    m.load,
  ];
});
const table = [
  "| " + header.join(" | ") + " |",
  "|" + header.map(() => "---").join("|") + "|",
  ...rows.map((r) => "| " + r.map((c) => String(c).replace(/\|/g, "\\|")).join(" | ") + " |"),
].join("\n");

// ---- commands (one per scenario and target; the run's own values, e.g. ports and pids, vary)
const commands = [];
for (const g of groups) {
  const r = g.runs[0];
  if (!r.command) continue;
  const clean = (c) => c.replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:PORT").replace(/--server-pid \d+/g, "--server-pid PID");
  commands.push(
    `- ${g.scenario} / ${g.label}${g.connections ? ` (${g.connections})` : ""}: ` +
      (r.server_command ? "`" + clean(r.server_command) + "` and " : "") +
      "`" + clean(r.command) + "`",
  );
}

// ---- plots
const gp = [];
const plots = [];
const curveGroups = ["pusher", "peer", "drain"].map((l) => group("s2-amqp-rate", l)).filter((g) => g?.typical?.latency_curve_us?.length);
if (curveGroups.length) {
  const parts = [];
  for (const g of curveGroups) {
    const r = g.typical;
    const file = `latency-${r.label}.dat`;
    const pts = r.latency_curve_us.filter(([q]) => q < 1).map(([q, v]) => `${1 / (1 - q)} ${Math.max(v, 1)}`);
    pts.push(`100000 ${Math.max(r.latency_us.max, 1)}`);
    fs.writeFileSync(path.join(outDir, file), pts.join("\n") + "\n");
    parts.push(`'${file}' using 1:2 with linespoints title '${r.label === "drain" ? "bare rabbitmq-c" : r.label}'`);
  }
  const r0 = curveGroups[0].typical;
  gp.push(
    "set terminal png size 900,540",
    "set output 'latency.png'",
    `set title 'Publish-to-receive latency, ${r0.params.users} users at ${r0.params.rate} msgs/s (RabbitMQ; run with the median p99)'`,
    "set logscale x",
    "set logscale y",
    "set xlabel 'percentile'",
    "set ylabel 'latency (us)'",
    "set xtics ('0%%' 1, '50%%' 2, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, 'max' 100000)",
    "set grid",
    "set key bottom right",
    "plot " + parts.join(", "),
    "unset xtics",
    "set xtics",
    "unset logscale",
  );
  plots.push("![latency distribution](../bench/results/latency.png)");
}
const fanGroups = groups.filter((g) => g.scenario.startsWith("s1-") && g.m.has_delivery);
if (fanGroups.length) {
  const series = [...new Set(fanGroups.map((g) => `${g.scenario}|${g.label}`))];
  const parts = [];
  for (const key of series) {
    const [scenario, l] = key.split("|");
    const file = `fanout-${scenario}-${l}.dat`;
    const pts = fanGroups
      .filter((g) => g.scenario === scenario && g.label === l)
      .sort((a, b) => a.connections - b.connections)
      .map((g) => `${g.connections} ${g.m.rate}`);
    fs.writeFileSync(path.join(outDir, file), pts.join("\n") + "\n");
    const name = (l === "pusher-1write" ? "pusher, 1 write per frame" : l) + (scenario === "s1-burst" ? ", 100 in flight" : "");
    parts.push(`'${file}' using 1:2 with linespoints pointsize 2 title '${name}'`);
  }
  gp.push(
    "set terminal png size 900,540",
    "set output 'throughput.png'",
    "set title 'Fan-out, embedded broker: frames/s vs connections (medians; 10 broadcasts in flight unless noted)'",
    "set logscale x",
    "set xlabel 'connections'",
    "set ylabel 'frames/s'",
    "set yrange [0:*]",
    "set offsets 0, 0, graph 0.4, 0",
    "set grid",
    "set key top left Left reverse",
    "plot " + parts.join(", "),
    "unset logscale",
  );
  plots.push("![throughput vs connections](../bench/results/throughput.png)");
}
fs.writeFileSync(path.join(outDir, "plots.gp"), gp.join("\n") + "\n");

// ---- the docs section
const when = new Date().toISOString().replace(/\.\d+Z$/, "Z");
const reps = Math.max(0, ...groups.map((g) => g.m.n));
const loads = runs.flatMap((r) => [r.loadavg_before, r.loadavg_after].map((l) => parseFloat(l))).filter((v) => !Number.isNaN(v));
const section = [
  "<!-- bench:begin (generated by scripts/bench.sh; edits here are overwritten) -->",
  `Run of ${when} on this machine (${process.env.BENCH_MACHINE ?? "2 cores, 24 GiB"}): ${runs.length} runs, ` +
    `${reps} per scenario point and target, interleaved; figures are medians. Server, broker and load generator ` +
    "share the cores" +
    (loads.length ? `; 1-minute load average during the runs ${range(loads)} (other work on the machine)` : "") +
    ". Compare pusher with the baselines of the same run (absolute figures drift by ±30 %).",
  "",
  targetTable,
  "",
  table,
  "",
  ...plots,
  "",
  "<details><summary>Commands</summary>",
  "",
  ...commands,
  "",
  "</details>",
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
