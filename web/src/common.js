// What the three pages share: talking to the API (errors shown as the API words them), the live
// event stream, amounts, and small components (tables of fields, a time chart, the world map).
import { h, render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import htm from "htm";

export const html = htm.bind(h);
export { render, useEffect, useRef, useState };

// An API failure: the API's own error code and message (docs/api.md, "Errors").
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
  toString() {
    return `${this.status} ${this.code}: ${this.message}${this.field ? ` (field ${this.field})` : ""}`;
  }
}

export async function api(path, { method = "GET", body } = {}) {
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (e) {
    throw new ApiError(0, "unreachable", `the server did not answer ${method} ${path}: ${e.message}`);
  }
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    if (!res.ok) throw new ApiError(res.status, "http_error", text.slice(0, 300) || res.statusText);
    throw new ApiError(res.status, "bad_answer", `${method} ${path} did not answer JSON`);
  }
  if (!res.ok) {
    const e = json && json.error;
    if (e) throw new ApiError(res.status, e.code, e.message, e.field);
    throw new ApiError(res.status, "http_error", res.statusText);
  }
  return json;
}

// The WebSocket event stream at `path`, reconnecting (1 s, then up to 10 s apart); `onEvent` gets
// each message, `onState` "live" or "reconnecting", and `onGap` is called after a reconnect or a
// gap in `seq` (the page then reads the REST routes again). Returns a function that closes it.
export function subscribe(path, { onEvent, onState, onGap }) {
  let ws = null, closed = false, wait = 1000, last = 0, timer = null;
  const open = () => {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
    ws = new WebSocket(url);
    ws.onopen = () => {
      wait = 1000;
      onState && onState("live");
      if (last) onGap && onGap();
    };
    ws.onmessage = (m) => {
      let e;
      try {
        e = JSON.parse(m.data);
      } catch {
        return;
      }
      if (typeof e.seq === "number") {
        if (last && e.seq !== last + 1) onGap && onGap();
        last = e.seq;
      }
      onEvent && onEvent(e);
    };
    ws.onclose = () => {
      if (closed) return;
      onState && onState("reconnecting");
      last = last || -1;
      timer = setTimeout(open, wait);
      wait = Math.min(wait * 2, 10000);
    };
  };
  open();
  return () => {
    closed = true;
    clearTimeout(timer);
    ws && ws.close();
  };
}

// Polls `load` every `ms` (and when `deps` change), keeping the last good value and the last
// error; `reload` reads it at once.
export function usePoll(load, ms, deps = []) {
  const [state, setState] = useState({ value: null, error: null });
  const tick = useRef(0);
  const run = async () => {
    const mine = ++tick.current;
    try {
      const value = await load();
      if (mine === tick.current) setState({ value, error: null });
    } catch (error) {
      if (mine === tick.current) setState((s) => ({ value: s.value, error }));
    }
  };
  useEffect(() => {
    run();
    if (!ms) return undefined;
    const t = setInterval(run, ms);
    return () => clearInterval(t);
  }, deps);
  // set: a value that came otherwise (the live stream)
  return { ...state, reload: run, set: (value) => setState({ value, error: null }) };
}

// A console's live stream (/v1/events on its own port): each message's data handed to the
// setter its type names; returns the stream's state ("connecting", "live", "reconnecting").
export function useConsoleStream(setters) {
  const [state, setState] = useState("connecting");
  useEffect(
    () =>
      subscribe("/v1/events", {
        onState: setState,
        onEvent: (e) => setters[e.type] && setters[e.type](e.data),
      }),
    [],
  );
  return state;
}

// ---- amounts: base units (10^-18 IPSX) as decimal strings, exactly --------------------------

const TEN18 = 10n ** 18n;

// "1500000000000000000" -> "1.5"; digits: the most fractional digits shown (rounded down).
export function ipsx(base, digits = 6) {
  if (base === null || base === undefined || base === "") return "–";
  let v;
  try {
    v = BigInt(base);
  } catch {
    return String(base);
  }
  const neg = v < 0n;
  if (neg) v = -v;
  const whole = v / TEN18;
  let frac = (v % TEN18).toString().padStart(18, "0").slice(0, digits).replace(/0+$/, "");
  if (!frac && v % TEN18 !== 0n && whole === 0n) return `${neg ? "-" : ""}<0.${"0".repeat(digits - 1)}1`;
  return `${neg ? "-" : ""}${whole.toLocaleString("en-US")}${frac ? "." + frac : ""}`;
}

// Price per second (base units) as IPSX per hour.
export function perHour(pricePerSecond) {
  if (pricePerSecond === null || pricePerSecond === undefined) return "–";
  return ipsx(BigInt(pricePerSecond) * 3600n, 8);
}

// "2.5" IPSX per hour -> base units per second (a decimal string), or throws with a reason.
export function parsePerHour(text) {
  const t = String(text).trim();
  if (!/^\d+(\.\d{1,18})?$/.test(t)) throw new Error(`"${text}" is not an amount of IPSX (digits, at most 18 decimals)`);
  const [w, f = ""] = t.split(".");
  const base = BigInt(w) * TEN18 + BigInt(f.padEnd(18, "0"));
  const perSecond = base / 3600n;
  if (perSecond === 0n) throw new Error(`${t} IPSX per hour is below one base unit per second`);
  return perSecond.toString();
}

export function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = Number(n), i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i ? v.toFixed(v < 10 ? 2 : 1) : v} ${units[i]}`;
}

export const short = (hex) => (typeof hex === "string" && hex.length > 14 ? `${hex.slice(0, 8)}…${hex.slice(-4)}` : hex);

export function when(ms) {
  if (!ms) return "–";
  const d = new Date(ms);
  return d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

export function ago(ms, now = Date.now()) {
  if (!ms) return "–";
  const s = Math.round((now - ms) / 1000);
  if (s < 0) return `in ${dur(-s)}`;
  return `${dur(s)} ago`;
}

export function dur(s) {
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60 ? (s % 60) + " s" : ""}`.trim();
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

// ---- components --------------------------------------------------------------------------------

export function ErrorLine({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${String(error)}</p>`;
}

export function Section({ title, id, children, extra }) {
  return html`<section aria-labelledby=${id + "-h"} id=${id}>
    <header class="section-head"><h2 id=${id + "-h"}>${title}</h2>${extra}</header>
    ${children}
  </section>`;
}

// A table of rows: columns [{label, value: row => node, cls}].
export function Table({ columns, rows, empty = "Nothing yet.", caption, rowKey }) {
  if (!rows || rows.length === 0) return html`<p class="empty">${empty}</p>`;
  return html`<div class="table-wrap"><table>
    ${caption && html`<caption>${caption}</caption>`}
    <thead><tr>${columns.map((c) => html`<th scope="col" class=${c.cls || ""}>${c.label}</th>`)}</tr></thead>
    <tbody>${rows.map((r, i) => html`<tr key=${rowKey ? rowKey(r) : i}>${columns.map((c) => html`<td class=${c.cls || ""}>${c.value(r)}</td>`)}</tr>`)}</tbody>
  </table></div>`;
}

// A chart of points over time: series [{label, cls, points: [[ms, value]]}], as SVG, with its
// axes labelled; `format` writes a value.
export function TimeChart({ series, format = String, height = 220, label }) {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return html`<p class="empty">No data yet.</p>`;
  const W = 960, H = height, L = 70, B = 24, T = 8, R = 10;
  let x0 = Math.min(...all.map((p) => p[0])), x1 = Math.max(...all.map((p) => p[0]));
  let y1 = Math.max(...all.map((p) => p[1]));
  if (x1 === x0) x1 = x0 + 1000;
  if (!(y1 > 0)) y1 = 1;
  y1 *= 1.1;
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => T + (1 - y / y1) * (H - T - B);
  const ticks = [0, 0.5, 1].map((f) => f * y1);
  return html`<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label=${label}>
    ${ticks.map((t) => html`<g><line class="grid" x1=${L} x2=${W - R} y1=${sy(t)} y2=${sy(t)}/><text class="tick" x=${L - 4} y=${sy(t) + 4} text-anchor="end">${format(t)}</text></g>`)}
    <text class="tick" x=${L} y=${H - 6}>${when(x0).slice(11, 19)}</text>
    <text class="tick" x=${W - R} y=${H - 6} text-anchor="end">${when(x1).slice(11, 19)}</text>
    ${series.map((s) => {
      const pts = [...s.points].sort((a, b) => a[0] - b[0]);
      return html`<g class=${"series " + (s.cls || "")}>
        <polyline points=${pts.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ")}/>
        ${pts.map((p) => html`<circle cx=${sx(p[0]).toFixed(1)} cy=${sy(p[1]).toFixed(1)} r="2.5"><title>${when(p[0])}: ${format(p[1])}</title></circle>`)}
      </g>`;
    })}
  </svg>`;
}
