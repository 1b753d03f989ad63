// The requester's console (`ipsx gateway --ui`): lease by country on the map, the leases live
// with their IPs, bytes and payments, spend against the budget, the proxy endpoint with examples
// to copy, and the per-deal credentials as ip:port:user:pass lines (docs/web.md).
import { html, render, useState, api, usePoll, useConsoleStream, ipsx, perHour, bytes, short, ErrorLine, Section, Table, TimeChart } from "./common.js";
import { WorldMap, countryName } from "./worldmap.js";
import qrcode from "qrcode-generator";

// A QR code of `text` as SVG (one path of dark modules), for a phone's WireGuard app to scan.
function Qr({ text, label }) {
  const qr = qrcode(0, "L");
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  let d = "";
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) if (qr.isDark(r, c)) d += `M${c + 4} ${r + 4}h1v1h-1z`;
  return html`<svg class="qr" viewBox=${`0 0 ${n + 8} ${n + 8}`} role="img" aria-label=${label} data-modules=${n}>
    <rect width=${n + 8} height=${n + 8} fill="#fff" /><path d=${d} fill="#000" /></svg>`;
}

function Vpn({ country }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [tunnel, setTunnel] = useState(null);
  const open = async () => {
    setError(null);
    setBusy(true);
    try {
      setTunnel(await api("/v1/vpn", { method: "POST", body: country ? { country } : {} }));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return html`<div>
    <p>A WireGuard tunnel out of a leased IP for another device: scan the code with the WireGuard app (phones), or import the
      file (laptops, routers). The gateway pays for it while it runs (docs/vpn.md).</p>
    <button type="button" onClick=${open} disabled=${busy} data-testid="vpn">${busy ? "Opening the tunnel…" : `New VPN configuration${country ? ` in ${countryName(country)}` : ""}`}</button>
    <${ErrorLine} error=${error} />
    ${tunnel && html`<div class="vpn" data-testid="tunnel">
      <p class="ok" role="status">Deal <span class="mono">${short(tunnel.deal)}</span>: leaving from ${tunnel.ip} (${tunnel.country}); tunnel
        address ${tunnel.address}, exit ${tunnel.endpoint}.</p>
      <${Qr} text=${tunnel.config} label="The tunnel's wg-quick configuration as a QR code" />
      <pre data-testid="wg-quick">${tunnel.config}</pre>
      <${Copy} text=${tunnel.config} label="Copy the configuration" />
    </div>`}
  </div>`;
}

function Examples({ proxy, username }) {
  const u = username || "country-de";
  const p = proxy.password;
  const at = `${proxy.host}:${proxy.port}`;
  const samples = [
    ["curl", `curl -x http://${u}:${p}@${at} https://example.com/\ncurl -x socks5h://${u}:${p}@${at} https://example.com/`],
    ["Python requests", `import requests\nproxy = "http://${u}:${p}@${at}"\nr = requests.get("https://example.com/", proxies={"http": proxy, "https": proxy})\nprint(r.status_code)`],
    ["Scrapy", `# in the spider\nyield scrapy.Request(url, meta={"proxy": "http://${u}:${p}@${at}"})`],
    ["Puppeteer", `const browser = await puppeteer.launch({ args: ["--proxy-server=http://${at}"] });\nconst page = await browser.newPage();\nawait page.authenticate({ username: "${u}", password: "${p}" });\nawait page.goto("https://example.com/");`],
  ];
  const [tab, setTab] = useState(0);
  return html`<div class="examples">
    <p>The gateway listens on <code data-testid="endpoint">${at}</code> for HTTP and SOCKS5. The username picks the IP
      (<code>country-de</code>, <code>type-mobile</code>, <code>session-NAME</code> keeps one IP, see docs/proxy-protocols.md);
      the password is the gateway's.</p>
    <div role="tablist" aria-label="Examples">${samples.map(([name], i) => html`<button role="tab" aria-selected=${tab === i ? "true" : "false"}
      class=${"chip" + (tab === i ? " on" : "")} onClick=${() => setTab(i)}>${name}</button>`)}</div>
    <pre role="tabpanel" data-testid="example">${samples[tab][1]}</pre>
    <${Copy} text=${samples[tab][1]} label="Copy the example" />
  </div>`;
}

function Copy({ text, label }) {
  const [done, setDone] = useState("");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setDone("Copied.");
    } catch (e) {
      setDone(`The browser did not copy (${e.message}): select the text instead.`);
    }
  };
  return html`<p><button type="button" onClick=${copy}>${label}</button> <span role="status">${done}</span></p>`;
}

function LeaseForm({ country, onLeased }) {
  const [type, setType] = useState("any");
  const [session, setSession] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    if (session && !/^[A-Za-z0-9_]{1,64}$/.test(session)) {
      setError("A session name is 1 to 64 letters, digits or _.");
      return;
    }
    let username = `country-${country.toLowerCase()}`;
    if (type !== "any") username += `-type-${type}`;
    if (session) username += `-session-${session}`;
    setBusy(true);
    try {
      onLeased(await api("/v1/leases", { method: "POST", body: { username } }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="order" onSubmit=${submit}>
    <div class="grid">
      <label>IP type <select name="type" value=${type} onChange=${(e) => setType(e.target.value)}>${["any", "residential", "datacenter", "mobile"].map((t) => html`<option>${t}</option>`)}</select></label>
      <label>Session (optional: the same name keeps the IP) <input name="session" value=${session} onInput=${(e) => setSession(e.target.value)} /></label>
    </div>
    <button type="submit" disabled=${busy} data-testid="lease">${busy ? "Leasing…" : `Lease an IP in ${countryName(country)}`}</button>
    <${ErrorLine} error=${error} />
  </form>`;
}

function App() {
  // Live over the console's WebSocket; read every few seconds while it is not.
  const [live, setLive] = useState(false);
  const info = usePoll(() => api("/v1/console"), live ? 60000 : 5000, [live]);
  const leases = usePoll(() => api("/v1/leases"), live ? 60000 : 2000, [live]);
  const stream = useConsoleStream({ leases: (d) => leases.set(d), console: (d) => info.set(d) });
  if ((stream === "live") !== live) setLive(stream === "live");
  const countries = usePoll(() => api("/v1/market/countries"), 10000);
  const [country, setCountry] = useState(null);
  const [leased, setLeased] = useState(null);
  const c = info.value;
  const byCode = {};
  (countries.value ? countries.value.countries : []).forEach((x) => (byCode[x.country] = x));
  const values = Object.fromEntries(Object.entries(byCode).map(([k, x]) => [k, x.offers]));
  const describe = (code) => (byCode[code] ? `${byCode[code].ips} IPs free, from ${perHour(byCode[code].lowestPricePerSecond)} IPSX per hour` : "no offers");
  const rows = leases.value ? leases.value.leases : [];
  const lines = rows.filter((l) => l.port && l.connected).map((l) => `${l.ip}:${l.port}:${l.username}:${l.password}`).join("\n");
  const budget = c && c.policy.budget !== "0" ? Number(BigInt(c.policy.budget)) / 1e18 : null;
  const spend = c ? [
    { label: "committed", cls: "datacenter", points: c.spend.map((s) => [s[0], Number(BigInt(s[1])) / 1e18]) },
    { label: "paid", cls: "residential", points: c.spend.map((s) => [s[0], Number(BigInt(s[2])) / 1e18]) },
  ] : [];
  const onLeased = (l) => {
    setLeased(l);
    leases.reload();
    info.reload();
  };
  return html`
    <header class="top">
      <h1>IPSX requester console</h1>
      ${c && html`<dl class="facts">
        <div><dt>Requester</dt><dd class="mono">${short(c.requester)}</dd></div>
        <div><dt>Node</dt><dd>${c.node}</dd></div>
        <div><dt>Leases ordered</dt><dd data-testid="leases-ordered">${c.totals.leases}</dd></div>
        <div><dt>Committed</dt><dd>${ipsx(c.totals.committed)} IPSX</dd></div>
        <div><dt>Budget</dt><dd>${c.policy.budget === "0" ? "no limit" : ipsx(c.policy.budget) + " IPSX"}</dd></div>
        <div><dt>Highest price</dt><dd>${perHour(c.policy.maxPricePerSecond)} IPSX per hour</dd></div>
        <div><dt>Stream</dt><dd class=${"stream " + stream} data-testid="stream">${stream}</dd></div>
      </dl>`}
      <${ErrorLine} error=${info.error} />
    </header>
    <main>
      <${Section} id="lease" title="Lease an IP by country">
        <${ErrorLine} error=${countries.error} />
        <${WorldMap} values=${values} selected=${country} onSelect=${setCountry} describe=${describe} label="World map of live offers per country" />
        <p class="countries">${Object.values(byCode).filter((x) => x.offers > 0).map((x) => html`<button class=${"chip" + (x.country === country ? " on" : "")}
          onClick=${() => setCountry(x.country)} aria-pressed=${x.country === country ? "true" : "false"} data-chip=${x.country}>${x.country} · ${x.ips}</button>`)}</p>
        ${country ? html`<${LeaseForm} country=${country} onLeased=${onLeased} />` : html`<p class="empty">Choose a country on the map.</p>`}
        ${leased && html`<div class="ok" role="status" data-testid="leased">
          <p>Leased ${leased.ip} (deal <span class="mono">${short(leased.deal)}</span>). Through the gateway, the username${" "}
            <code data-testid="leased-username">${leased.gatewayUsername}</code> reaches it.</p>
        </div>`}
      <//>
      <${Section} id="leases" title="Leases">
        <${ErrorLine} error=${leases.error} />
        <${Table} rows=${rows} rowKey=${(l) => l.deal} empty="No lease has connected yet: send a request through the gateway, or lease one above."
          columns=${[
            { label: "Deal", value: (l) => html`<span class="mono" data-deal=${l.deal}>${short(l.deal)}</span>` },
            { label: "IP", value: (l) => l.ip },
            { label: "State", value: (l) => (l.failed ? html`<span class="phase closed" title=${l.failed}>ended</span>` : l.connected ? html`<span class="phase active">connected</span>` : "idle") },
            { label: "Path", value: (l) => l.path || "–" },
            { label: "Up", value: (l) => bytes(l.bytesUp), cls: "num" },
            { label: "Down", value: (l) => html`<span data-testid="down">${bytes(l.bytesDown)}</span>`, cls: "num" },
            { label: "Paid (IPSX)", value: (l) => l.paid, cls: "num" },
            { label: "Exit's own proxy", value: (l) => (l.port ? html`<code>${l.ip}:${l.port}</code>` : l.vpn ? `VPN ${l.vpn.address}` : "–") },
          ]} />
      <//>
      <${Section} id="spend" title="Spend against the budget">
        ${c && html`<p class="summary">${budget === null ? "No budget set (each lease is bounded by its own cost)." : `Budget ${ipsx(c.policy.budget)} IPSX; committed ${ipsx(c.totals.committed)}.`}</p>`}
        <${TimeChart} series=${spend} label="IPSX committed and paid over time" format=${(x) => x.toPrecision(3)} />
        <p class="keys"><span class="key datacenter">committed (deposits of the leases ordered)</span><span class="key residential">paid (balance proofs sent)</span></p>
      <//>
      <${Section} id="vpn" title="VPN for a device">
        <${Vpn} country=${country} />
      <//>
      <${Section} id="use" title="Use the proxy">
        ${c && html`<${Examples} proxy=${c.proxy} username=${leased && leased.gatewayUsername} />`}
      <//>
      <${Section} id="export" title="Per-deal credentials (ip:port:user:pass)">
        <p>Each connected lease whose exit runs a proxy front, as proxy tools import them; the gateway keeps paying while they are used.</p>
        ${lines ? html`<pre data-testid="export">${lines}</pre><${Copy} text=${lines} label="Copy the lines" />` : html`<p class="empty">None yet.</p>`}
      <//>
    </main>`;
}

const root = document.getElementById("app");
root.textContent = "";
render(html`<${App} />`, root);
