// The provider's console (`ipsx provide --ui`): the IPs offered with the node's checks, changing
// an offer's price or scopes and pausing or resuming it (the agent signs; the page never does),
// the deals live with bytes, payments, path and usage receipts, earnings over time, the rating and
// the ledger account (docs/web.md).
import { html, render, useState, api, usePoll, useConsoleStream, ipsx, perHour, parsePerHour, bytes, short, ago, ErrorLine, Section, Table, TimeChart } from "./common.js";

const SCOPES = ["crawling", "streaming", "email", "general", "vpn"];

function EditIp({ ip, onDone }) {
  const [price, setPrice] = useState("");
  const [scopes, setScopes] = useState(ip.scopes.split(",").filter(Boolean));
  const [hours, setHours] = useState(ip.hours);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const send = async (body) => {
    setError(null);
    setBusy(true);
    try {
      onDone((await api(`/v1/ips/${ip.ip}`, { method: "POST", body })).done);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const submit = (e) => {
    e.preventDefault();
    const body = {};
    try {
      if (price.trim()) body.pricePerSecond = parsePerHour(price);
    } catch (err) {
      setError(err.message);
      return;
    }
    if (scopes.length === 0) {
      setError("Name at least one use (scope) the IP may serve.");
      return;
    }
    if (scopes.join(",") !== ip.scopes) body.scopes = scopes.join(",");
    if (hours.trim() !== ip.hours) {
      if (hours.trim() && !/^\d\d:\d\d-\d\d:\d\d$/.test(hours.trim())) {
        setError("Hours are HH:MM-HH:MM in UTC (as 22:00-06:00), or empty for always.");
        return;
      }
      body.hours = hours.trim();
    }
    if (Object.keys(body).length === 0) {
      setError("Nothing to change: give a new price, other uses or other hours.");
      return;
    }
    send(body);
  };
  const toggle = (s) => setScopes(scopes.includes(s) ? scopes.filter((x) => x !== s) : [...scopes, s]);
  return html`<form class="order" onSubmit=${submit} data-ip=${ip.ip} aria-label=${`Change the offer of ${ip.ip}`}>
    <div class="grid">
      <label>New price, IPSX per hour <input name="price" value=${price} onInput=${(e) => setPrice(e.target.value)} inputmode="decimal" placeholder=${perHour(ip.pricePerSecond)} /></label>
      <label>Hours on offer, UTC (empty: always) <input name="hours" value=${hours} onInput=${(e) => setHours(e.target.value)} placeholder="22:00-06:00" /></label>
      <fieldset class="scopes"><legend>Uses (scopes)</legend>${SCOPES.map((s) => html`<label class="check"><input type="checkbox" name=${"scope-" + s} checked=${scopes.includes(s)} onChange=${() => toggle(s)} /> ${s}</label>`)}</fieldset>
    </div>
    <button type="submit" disabled=${busy} data-testid="change">${busy ? "The agent is signing…" : "Sign and place the new offer"}</button>
    ${" "}<button type="button" disabled=${busy} data-testid="pause" onClick=${() => send({ paused: !ip.paused })}>${ip.paused ? "Resume" : "Pause"} ${ip.ip}</button>
    <${ErrorLine} error=${error} />
  </form>`;
}

function Ips({ info, reload }) {
  const [done, setDone] = useState("");
  const [open, setOpen] = useState(null);
  const ips = info ? info.ips : [];
  return html`<div>
    <${Table} rows=${ips} rowKey=${(i) => i.ip} empty="No IP configured."
      columns=${[
        { label: "IP", value: (i) => html`<button class="link" aria-expanded=${open === i.ip ? "true" : "false"} onClick=${() => setOpen(open === i.ip ? null : i.ip)} data-edit=${i.ip}>${i.ip}</button>` },
        { label: "Country", value: (i) => i.country },
        { label: "Type", value: (i) => i.type },
        { label: "IPSX per hour", value: (i) => html`<span data-testid="price">${perHour(i.pricePerSecond)}</span>`, cls: "num" },
        { label: "Uses", value: (i) => i.scopes },
        { label: "Places", value: (i) => i.capacity, cls: "num" },
        { label: "Hours (UTC)", value: (i) => i.hours || "always" },
        { label: "State", value: (i) => html`<span data-testid="state" class=${"phase " + (i.paused ? "closed" : "active")}>${i.paused ? "paused" : i.offer ? "on offer" : "not placed"}</span>` },
        { label: "On sale", value: (i) => (i.untilS ? html`<span data-testid="window">${i.fromS * 1000 > Date.now() ? `from ${ago(i.fromS * 1000)} ` : ""}until ${ago(i.untilS * 1000)}</span>` : "–") },
        { label: "The node's checks", value: (i) => i.checked || "–" },
      ]} />
    ${open && html`<${EditIp} ip=${ips.find((i) => i.ip === open)} onDone=${(d) => { setDone(d); reload(); }} />`}
    ${done && html`<p class="ok" role="status" data-testid="done">${done}</p>`}
  </div>`;
}

// The exit's allow and deny lists (one IP range per line): what its proxies and VPN tunnels may
// reach besides the public internet, and what they may not reach at all.
function Policy({ policy, reload }) {
  const [allow, setAllow] = useState(null);
  const [deny, setDeny] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [done, setDone] = useState("");
  const a = allow ?? policy.allow.join("\n"), d = deny ?? policy.deny.join("\n");
  const lines = (t) => t.split(/\s+/).map((x) => x.trim()).filter(Boolean);
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    setDone("");
    setBusy(true);
    try {
      setDone((await api("/v1/policy", { method: "POST", body: { allow: lines(a), deny: lines(d) } })).done);
      setAllow(null);
      setDeny(null);
      reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="order policy" onSubmit=${submit}>
    <p>The exit refuses private, loopback and link-local destinations unless allowed here, and refuses what is denied here even when
      public (docs/threat-model.md). One IP range per line, as <code>192.0.2.0/24</code>.</p>
    <div class="grid">
      <label>Allowed besides the public internet<textarea name="allow" rows="4" cols="28" value=${a} onInput=${(e) => setAllow(e.target.value)}></textarea></label>
      <label>Denied<textarea name="deny" rows="4" cols="28" value=${d} onInput=${(e) => setDeny(e.target.value)}></textarea></label>
    </div>
    <button type="submit" disabled=${busy} data-testid="policy">${busy ? "Applying…" : "Apply to the exit"}</button>
    <${ErrorLine} error=${error} />
    ${done && html`<p class="ok" role="status" data-testid="policy-done">${done}</p>`}
  </form>`;
}

function App() {
  // Live over the console's WebSocket; read every few seconds while it is not.
  const [live, setLive] = useState(false);
  const info = usePoll(() => api("/v1/console"), live ? 60000 : 5000, [live]);
  const deals = usePoll(() => api("/v1/deals"), live ? 60000 : 2000, [live]);
  const stream = useConsoleStream({ deals: (d) => deals.set(d), console: (d) => info.set(d) });
  if ((stream === "live") !== live) setLive(stream === "live");
  const profile = usePoll(() => api("/v1/profile"), 30000);
  const account = usePoll(() => api("/v1/account"), 15000);
  const c = info.value, p = profile.value, a = account.value;
  const rows = deals.value ? [...deals.value.deals].reverse() : [];
  const earned = c ? [{ label: "paid", cls: "residential", points: c.earnings.map((e) => [e[0], Number(BigInt(e[1])) / 1e18]) }] : [];
  return html`
    <header class="top">
      <h1>IPSX provider console</h1>
      ${c && html`<dl class="facts">
        <div><dt>Provider</dt><dd class="mono">${short(c.provider)}</dd></div>
        <div><dt>Node</dt><dd>${c.node}</dd></div>
        ${a && html`<div><dt>Balance</dt><dd data-testid="balance">${a.balance} IPSX</dd></div>`}
        ${p && html`<div><dt>Rating</dt><dd data-testid="rating">${p.rating.count ? `${(p.rating.x100 / 100).toFixed(2)} of 5 (${p.rating.count} votes)` : "no votes yet"}</dd></div>`}
        ${p && html`<div><dt>Deals provided</dt><dd>${p.history.provided}</dd></div>`}
        <div><dt>Stream</dt><dd class=${"stream " + stream} data-testid="stream">${stream}</dd></div>
      </dl>`}
      <${ErrorLine} error=${info.error} />
    </header>
    <main>
      <${Section} id="ips" title="IPs offered">
        <p>Choose an IP to change its price, uses or daily hours, or to pause it. The agent signs the new offer; an offer already sold keeps its terms until its deals end.</p>
        <${Ips} info=${c} reload=${info.reload} />
      <//>
      <${Section} id="destinations" title="Destinations">
        ${c && html`<${Policy} policy=${c.policy} reload=${info.reload} />`}
      <//>
      <${Section} id="deals" title="Deals">
        <${ErrorLine} error=${deals.error} />
        <${Table} rows=${rows} rowKey=${(d) => d.deal} empty="No deal yet."
          columns=${[
            { label: "Deal", value: (d) => html`<span class="mono" data-deal=${d.deal}>${short(d.deal)}</span>` },
            { label: "Requester", value: (d) => html`<span class="mono">${short(d.requester) || "–"}</span>` },
            { label: "State", value: (d) => (d.cut ? html`<span class="phase closed" title=${d.cut}>cut</span>` : d.status && d.status.phase ? html`<span class=${"phase " + d.status.phase}>${d.status.phase}</span>` : d.settled ? "settled" : "–") },
            { label: "Path", value: (d) => d.path || "–" },
            { label: "Up", value: (d) => bytes(d.bytesUp), cls: "num" },
            { label: "Down", value: (d) => html`<span data-testid="down">${bytes(d.bytesDown)}</span>`, cls: "num" },
            { label: "Paid (IPSX)", value: (d) => html`<span data-testid="paid">${ipsx(d.paid, 8)}</span>`, cls: "num" },
            { label: "Owed", value: (d) => ipsx(d.owed, 8), cls: "num" },
            { label: "Usage receipted", value: (d) => `${d.usageReceipted} of ${d.usageRecords}`, cls: "num" },
          ]} />
      <//>
      <${Section} id="earnings" title="Earnings">
        <p class="summary">What the requesters' balance proofs pay (each kept on disk before it counts; the agent claims them on the ledger).</p>
        <${TimeChart} series=${earned} label="IPSX paid over time" format=${(x) => x.toPrecision(3)} />
      <//>
      <${Section} id="rating" title="Rating and account">
        <${ErrorLine} error=${profile.error || account.error} />
        ${p && html`<dl class="facts"><div><dt>Rating</dt><dd>${p.rating.count ? `${(p.rating.x100 / 100).toFixed(2)} of 5` : "none yet"}</dd></div>
          <div><dt>Votes</dt><dd>${p.rating.count}</dd></div><div><dt>Deals provided</dt><dd>${p.history.provided}</dd></div>
          <div><dt>Active now</dt><dd>${p.history.providedActive}</dd></div>
          <div><dt>Uptime</dt><dd>${(p.history.providerUptimePerMille / 10).toFixed(1)} %</dd></div></dl>`}
        ${a && html`<dl class="facts" data-testid="account"><div><dt>Ledger balance</dt><dd>${a.balance} IPSX</dd></div>
          <div><dt>Centralizer wallet</dt><dd>${a.wallet ? `${a.wallet.balance} IPSX (${a.wallet.reserved} reserved)` : "–"}</dd></div>
          <div><dt>Native coin</dt><dd>${a.nativeBalance}</dd></div><div><dt>Nonce</dt><dd>${a.nonce}</dd></div></dl>`}
      <//>
    </main>`;
}

const root = document.getElementById("app");
root.textContent = "";
render(html`<${App} />`, root);
