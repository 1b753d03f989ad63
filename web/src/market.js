// The market page (served by `ipsx node` at /): the map of live offers, a country's depth, recent
// deal prices, live deals, the ledger's explorer and crowd sale, and placing a request signed by
// a browser wallet (docs/web.md).
import {
  html, render, useEffect, useRef, useState, api, subscribe, usePoll, ipsx, perHour, parsePerHour,
  short, when, ago, ErrorLine, Section, Table, TimeChart,
} from "./common.js";
import { WorldMap, countryName } from "./worldmap.js";
import { OrderForm } from "./wallet.js";

const TYPES = ["residential", "datacenter", "mobile"];

// Bumps a counter when the stream says the book, the deals or the ledger changed (coalesced:
// at most one bump per 400 ms), so the sections read their routes again.
function useLive() {
  const [state, setState] = useState("connecting");
  const [ver, setVer] = useState({ book: 0, deals: 0, ledger: 0 });
  const pending = useRef({});
  useEffect(() => {
    let timer = null;
    const bump = (what) => {
      what.forEach((w) => (pending.current[w] = true));
      if (timer) return;
      timer = setTimeout(() => {
        timer = null;
        const p = pending.current;
        pending.current = {};
        setVer((v) => ({
          book: v.book + (p.book ? 1 : 0),
          deals: v.deals + (p.deals ? 1 : 0),
          ledger: v.ledger + (p.ledger ? 1 : 0),
        }));
      }, 400);
    };
    return subscribe("/v1/events", {
      onState: setState,
      onGap: () => bump(["book", "deals", "ledger"]),
      onEvent: (e) => {
        if (e.type === "order" || e.type === "cancel") bump(["book"]);
        else if (e.type === "deal") bump(["book", "deals", "ledger"]);
        else if (e.type === "status" || e.type === "deal_status") bump(["deals", "book"]);
        else if (e.type === "transaction") bump(["ledger"]);
      },
    });
  }, []);
  return { state, ver };
}

function Header({ health, live, countries }) {
  const h = health.value;
  return html`<header class="top">
    <h1>IPSX market</h1>
    <dl class="facts">
      ${h && html`<div><dt>Ledger</dt><dd>${h.ledger} · chain ${h.chainId}</dd></div>
      <div><dt>Block</dt><dd data-testid="head">${h.head ? h.head.number : "–"}</dd></div>
      <div><dt>Fee</dt><dd>${(h.feeBps / 100).toFixed(2)} %</dd></div>`}
      ${countries && html`<div><dt>Live offers</dt><dd data-testid="live-offers">${countries.liveOffers}</dd></div>
      <div><dt>Requests</dt><dd>${countries.restingRequests}</dd></div>
      <div><dt>Open deals</dt><dd>${countries.openDeals}</dd></div>`}
      <div><dt>Stream</dt><dd class=${"stream " + live.state} data-testid="stream">${live.state}</dd></div>
    </dl>
    <${ErrorLine} error=${health.error} />
  </header>`;
}

function Depth({ country, ver }) {
  const depth = usePoll(() => api(`/v1/market/depth?country=${country}&levels=10`), 0, [country, ver]);
  const d = depth.value;
  const levels = (rows, what) => html`<${Table} empty=${`No ${what}.`}
    columns=${[
      { label: "IPSX per hour", value: (l) => perHour(l.pricePerSecond), cls: "num" },
      { label: "Orders", value: (l) => l.orders, cls: "num" },
      { label: "IPs", value: (l) => l.ips, cls: "num" },
    ]} rows=${rows} />`;
  return html`<div class="depth" data-testid="depth">
    <h3>${countryName(country)} (${country})</h3>
    <${ErrorLine} error=${depth.error} />
    ${d && html`<div class="cols">
      ${TYPES.map((t) => html`<div><h4>Offers: ${t}</h4>${levels(d.offers[t] || [], `${t} offers`)}</div>`)}
      <div><h4>Requests (bids)</h4>${levels(d.requests, "requests")}</div>
    </div>`}
  </div>`;
}

function Trades({ country, ver }) {
  const q = country ? `&country=${country}` : "";
  const t = usePoll(() => api(`/v1/market/trades?limit=200${q}`), 15000, [country, ver]);
  const v = t.value;
  const byType = TYPES.map((type) => ({
    label: type,
    cls: type,
    points: v ? v.trades.filter((x) => x.ipType === type).map((x) => [x.atMs, Number(BigInt(x.pricePerSecond) * 3600n) / 1e18]) : [],
  }));
  return html`<div>
    <${ErrorLine} error=${t.error} />
    ${v && html`<p class="summary">${`${v.summary.count} deal${v.summary.count === 1 ? "" : "s"}${country ? ` in ${countryName(country)}` : ""}` +
      (v.summary.count ? `; last ${perHour(v.summary.lastPricePerSecond)}, lowest ${perHour(v.summary.minPricePerSecond)}, highest ${perHour(v.summary.maxPricePerSecond)} IPSX per hour.` : ".")}</p>
      <${TimeChart} series=${byType} label="Recent deal prices, IPSX per hour" format=${(x) => x.toPrecision(3)} />
      <p class="keys">${TYPES.map((ty) => html`<span class=${"key " + ty}>${ty}</span>`)}</p>`}
  </div>`;
}

function phaseOf(d) {
  return d.status ? d.status.phase : "?";
}

function Deals({ ver, onPick }) {
  const deals = usePoll(() => api("/v1/deals?settled=false&limit=200"), 10000, [ver]);
  const rows = deals.value ? [...deals.value.deals].sort((a, b) => b.times.openedMs - a.times.openedMs).slice(0, 50) : [];
  return html`<div>
    <${ErrorLine} error=${deals.error} />
    <${Table} rows=${rows} rowKey=${(d) => d.id} empty="No deal open now."
      columns=${[
        { label: "Deal", value: (d) => html`<button class="link" onClick=${() => onPick(d.id)} data-deal=${d.id}>${short(d.id)}</button>` },
        { label: "Provider", value: (d) => html`<button class="link" onClick=${() => onPick(d.provider)}>${short(d.provider)}</button>` },
        { label: "Requester", value: (d) => html`<button class="link" onClick=${() => onPick(d.requester)}>${short(d.requester)}</button>` },
        { label: "IPSX per hour", value: (d) => perHour(d.pricePerSecond), cls: "num" },
        { label: "State", value: (d) => html`<span class=${"phase " + phaseOf(d)} data-testid="phase">${phaseOf(d)}</span>` },
        { label: "Path", value: (d) => d.path || "–" },
        { label: "Opened", value: (d) => ago(d.times.openedMs) },
        { label: "Ends", value: (d) => ago(d.times.endMs) },
      ]} />
  </div>`;
}

// ---- the ledger's explorer ------------------------------------------------------------------

const isAddress = (s) => /^0x[0-9a-fA-F]{40}$/.test(s);
const isHash = (s) => /^0x[0-9a-fA-F]{64}$/.test(s);

// A value in a table of fields: addresses and hashes lead to what they name.
function Value({ v, onPick }) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "string" && (isAddress(v) || isHash(v)) && !/^0x0+$/.test(v))
    return html`<button class="link mono" onClick=${() => onPick(v)}>${v}</button>`;
  if (Array.isArray(v)) {
    if (v.length === 0) return "none";
    if (v.every((x) => typeof x !== "object")) return html`${v.map((x, i) => html`${i ? ", " : ""}<${Value} v=${x} onPick=${onPick} />`)}`;
    return html`<pre>${JSON.stringify(v, null, 1)}</pre>`;
  }
  if (typeof v === "object") return html`<${Fields} obj=${v} onPick=${onPick} />`;
  return String(v);
}

function Fields({ obj, onPick }) {
  return html`<dl class="fields">${Object.entries(obj).map(([k, v]) => html`<div><dt>${k}</dt><dd><${Value} v=${v} onPick=${onPick} /></dd></div>`)}</dl>`;
}

async function lookup(q) {
  const s = q.trim();
  if (/^\d+$/.test(s)) return { kind: "Block", data: await api(`/v1/ledger/blocks/${s}`) };
  if (isAddress(s)) {
    const [account, txs, events] = await Promise.all([
      api(`/v1/ledger/accounts/${s}`),
      api(`/v1/ledger/accounts/${s}/transactions?limit=20`),
      api(`/v1/ledger/accounts/${s}/events?limit=20`),
    ]);
    return { kind: "Account", data: account, txs, events };
  }
  if (isHash(s)) {
    try {
      const [deal, events] = await Promise.all([api(`/v1/ledger/deals/${s}`), api(`/v1/ledger/deals/${s}/events`)]);
      let market = null;
      try {
        market = await api(`/v1/deals/${s}`);
      } catch {}
      return { kind: "Deal", data: deal, events, market };
    } catch (e) {
      if (e.status !== 404 && e.status !== 400) throw e;
    }
    return { kind: "Transaction", data: await api(`/v1/ledger/transactions/${s}`) };
  }
  throw new Error(`"${s}" is not a block number, an address (0x and 40 hex digits), a deal or a transaction id (0x and 64)`);
}

function Explorer({ ver, query, setQuery }) {
  const [text, setText] = useState(query);
  const [found, setFound] = useState(null);
  const [error, setError] = useState(null);
  const latest = usePoll(async () => {
    const top = await api("/v1/ledger/blocks/latest");
    const rest = await Promise.all(
      Array.from({ length: Math.min(7, top.number) }, (_, i) => api(`/v1/ledger/blocks/${top.number - 1 - i}`).catch(() => null)),
    );
    return [top, ...rest.filter(Boolean)];
  }, 15000, [ver]);
  useEffect(() => {
    setText(query);
    if (!query) return;
    setError(null);
    lookup(query).then(setFound, (e) => {
      setFound(null);
      setError(e);
    });
  }, [query, ver]);
  const submit = (e) => {
    e.preventDefault();
    setQuery(text.trim());
  };
  return html`<div class="explorer">
    <form class="search" onSubmit=${submit} role="search">
      <label for="q">Search the ledger</label>
      <input id="q" name="q" value=${text} onInput=${(e) => setText(e.target.value)} autocomplete="off" spellcheck="false"
        placeholder="block number, address, deal or transaction id" />
      <button type="submit">Search</button>
    </form>
    <${ErrorLine} error=${error} />
    ${found && html`<div class="found" data-testid="found">
      <h3>${found.kind}</h3>
      <${Fields} obj=${found.data} onPick=${setQuery} />
      ${found.market && html`<h4>At the market</h4><${Fields} obj=${{ status: found.market.status, times: found.market.times, path: found.market.path || "–" }} onPick=${setQuery} />`}
      ${found.txs && html`<h4>Transactions</h4><${Value} v=${found.txs.transactions} onPick=${setQuery} />`}
      ${found.events && html`<h4>Events</h4><${Value} v=${found.events.events} onPick=${setQuery} />`}
    </div>`}
    <h3>Latest blocks</h3>
    <${ErrorLine} error=${latest.error} />
    <${Table} rows=${latest.value || []} rowKey=${(b) => b.number}
      columns=${[
        { label: "Block", value: (b) => html`<button class="link" onClick=${() => setQuery(String(b.number))}>${b.number}</button>`, cls: "num" },
        { label: "Time", value: (b) => when(b.timestampMs) },
        { label: "Transactions", value: (b) => b.txs.length, cls: "num" },
        { label: "Hash", value: (b) => html`<span class="mono">${short(b.hash)}</span>` },
      ]} />
  </div>`;
}

function Sale({ ver }) {
  const sale = usePoll(() => api("/v1/ledger/sale"), 30000, [ver]);
  const s = sale.value;
  return html`<div>
    <${ErrorLine} error=${sale.error} />
    ${s && html`<dl class="facts sale">
      <div><dt>State</dt><dd data-testid="sale-state">${s.state}</dd></div>
      <div><dt>Rate</dt><dd>${s.rate} IPSX per native coin</dd></div>
      <div><dt>Raised</dt><dd>${ipsx(s.raised, 18)}</dd></div>
      <div><dt>Sold</dt><dd>${ipsx(s.sold)} IPSX</dd></div>
      <div><dt>Hard cap</dt><dd>${ipsx(s.hardCap, 18)}</dd></div>
      <div><dt>Soft cap</dt><dd>${s.softCap === "0" ? "none" : ipsx(s.softCap, 18)}</dd></div>
      <div><dt>Opens</dt><dd>${when(s.startMs)}</dd></div>
      <div><dt>Ends</dt><dd>${when(s.endMs)}</dd></div>
    </dl>`}
  </div>`;
}

function App() {
  const live = useLive();
  const health = usePoll(() => api("/v1/health"), 10000, [live.ver.ledger]);
  const countries = usePoll(() => api("/v1/market/countries"), 10000, [live.ver.book]);
  const [country, setCountry] = useState(null);
  const [query, setQuery] = useState("");
  const byCode = {};
  (countries.value ? countries.value.countries : []).forEach((c) => (byCode[c.country] = c));
  const describe = (code) => {
    const c = byCode[code];
    if (!c) return "no offers";
    return `${c.offers} offer${c.offers === 1 ? "" : "s"}, ${c.ips} IP${c.ips === 1 ? "" : "s"} free, from ${perHour(c.lowestPricePerSecond)} IPSX per hour`;
  };
  const values = Object.fromEntries(Object.entries(byCode).map(([k, c]) => [k, c.offers]));
  const pick = (q) => {
    setQuery(q);
    document.getElementById("explorer")?.scrollIntoView({ behavior: "smooth" });
  };
  const listed = countries.value ? countries.value.countries.filter((c) => c.offers > 0) : [];
  return html`
    <${Header} health=${health} live=${live} countries=${countries.value} />
    <main>
      <${Section} id="map" title="Where IPs are offered">
        <${ErrorLine} error=${countries.error} />
        <${WorldMap} values=${values} selected=${country} onSelect=${setCountry} describe=${describe} label="World map of live offers per country" />
        <p class="countries">${listed.length === 0 ? "No live offers." : listed.map((c) => html`<button class=${"chip" + (c.country === country ? " on" : "")}
          onClick=${() => setCountry(c.country)} aria-pressed=${c.country === country ? "true" : "false"} data-chip=${c.country}>${c.country} · ${c.offers}</button>`)}</p>
        ${country && html`<${Depth} country=${country} ver=${live.ver.book} />`}
      <//>
      <${Section} id="prices" title=${country ? `Recent deal prices in ${countryName(country)}` : "Recent deal prices"}>
        <${Trades} country=${country} ver=${live.ver.deals} />
      <//>
      <${Section} id="deals" title="Live deals">
        <${Deals} ver=${live.ver.deals} onPick=${pick} />
      <//>
      <${Section} id="order" title="Place a request with a browser wallet">
        <${OrderForm} health=${health.value} country=${country} />
      <//>
      <${Section} id="explorer" title="Ledger explorer">
        <${Explorer} ver=${live.ver.ledger} query=${query} setQuery=${setQuery} />
      <//>
      <${Section} id="sale" title="Crowd sale">
        <${Sale} ver=${live.ver.ledger} />
      <//>
    </main>`;
}

const root = document.getElementById("app");
root.textContent = "";  // the "Loading" line
render(html`<${App} />`, root);
