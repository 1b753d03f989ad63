// Placing a request from the market page with a browser wallet (EIP-1193): the page builds the
// request as EIP-712 typed data in the market's signing domain (name "IPSX", version "1", the
// chain id and verifying contract /v1/health names), the wallet signs it with
// eth_signTypedData_v4, and the page posts it to /v1/orders. No key ever reaches the page.
import { html, useState, api, parsePerHour, ErrorLine, ipsx } from "./common.js";

const REQUEST_TYPE = [
  ["requester", "address"], ["count", "uint32"], ["countries", "bytes2[]"], ["region", "string"],
  ["asn", "uint32"], ["ipTypes", "uint8"], ["protocols", "uint32"], ["scope", "uint32"],
  ["minProviderRating", "uint16"], ["minBandwidthKbps", "uint32"], ["exclusive", "bool"],
  ["distinctSubnets", "bool"], ["start", "uint64"], ["duration", "uint64"],
  ["maxPricePerSecond", "uint256"], ["budget", "uint256"], ["allOrNone", "bool"],
  ["market", "address"], ["feeBps", "uint16"], ["expiry", "uint64"], ["nonce", "uint64"],
].map(([name, type]) => ({ name, type }));

const IP_TYPE_BIT = { residential: 2, datacenter: 4, mobile: 8 };  // 1 << IpType
const PROTOCOLS = { http: 1, "https (CONNECT)": 2, socks5: 4, smtp: 8, vpn: 16 };
const SCOPES = { crawling: 1, streaming: 2, email: 4, general: 8, vpn: 16 };

const hexCountry = (c) => "0x" + [...c].map((ch) => ch.charCodeAt(0).toString(16).padStart(2, "0")).join("");

// The typed data a wallet signs for `request` (as the API writes it) in the node's domain.
export function requestTypedData(request, health) {
  return {
    types: {
      EIP712Domain: [
        { name: "name", type: "string" }, { name: "version", type: "string" },
        { name: "chainId", type: "uint256" }, { name: "verifyingContract", type: "address" },
      ],
      Request: REQUEST_TYPE,
    },
    primaryType: "Request",
    domain: { name: "IPSX", version: "1", chainId: health.chainId, verifyingContract: health.verifyingContract },
    message: { ...request, countries: request.countries.map(hexCountry) },
  };
}

export function OrderForm({ health, country }) {
  const [form, setForm] = useState({ country: "", type: "any", protocol: "http", scope: "crawling", duration: "3600", price: "", count: "1" });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [placed, setPlaced] = useState(null);
  const c = form.country || country || "";
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    setPlaced(null);
    const eth = window.ethereum;
    if (!eth || typeof eth.request !== "function") {
      setError("No browser wallet (EIP-1193, window.ethereum) on this page: install one, or place the request with `ipsx order request`.");
      return;
    }
    if (!health) {
      setError("The node's signing domain is not known yet (/v1/health has not answered).");
      return;
    }
    setBusy(true);
    try {
      if (!/^[A-Z]{2}$/.test(c.toUpperCase())) throw new Error(`"${c}" is not a country code (two letters, as DE)`);
      const duration = Number(form.duration), count = Number(form.count);
      if (!Number.isInteger(duration) || duration < 5 || duration > 2592000) throw new Error("the duration is whole seconds from 5 to 2,592,000 (30 days)");
      if (!Number.isInteger(count) || count < 1 || count > 1000) throw new Error("the count of IPs is from 1 to 1,000");
      const perSecond = parsePerHour(form.price);
      const accounts = await eth.request({ method: "eth_requestAccounts" });
      if (!accounts || !accounts[0]) throw new Error("the wallet gave no account");
      const now = Math.floor(Date.now() / 1000);
      const request = {
        requester: accounts[0].toLowerCase(), count, countries: [c.toUpperCase()], region: "", asn: 0,
        ipTypes: form.type === "any" ? 0 : IP_TYPE_BIT[form.type], protocols: PROTOCOLS[form.protocol],
        scope: SCOPES[form.scope], minProviderRating: 0, minBandwidthKbps: 0, exclusive: false,
        distinctSubnets: false, start: 0, duration, maxPricePerSecond: perSecond,
        budget: (BigInt(perSecond) * BigInt(duration) * BigInt(count)).toString(), allOrNone: false,
        market: health.market, feeBps: health.feeBps, expiry: now + 3600, nonce: Date.now(),
      };
      const typed = requestTypedData(request, health);
      const signature = await eth.request({ method: "eth_signTypedData_v4", params: [accounts[0], JSON.stringify(typed)] });
      const placedNow = await api("/v1/orders", { method: "POST", body: { request, signature } });
      setPlaced({ ...placedNow, budget: request.budget });
    } catch (err) {
      setError(err && err.code === 4001 ? "The wallet refused to sign (4001: the user rejected the request)." : err);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="order" onSubmit=${submit} aria-describedby="order-help">
    <p id="order-help">For requesters without a local agent: the wallet signs the request, the node matches it. The deposit comes from
      the requester's ledger wallet when a deal opens; a gateway (<code>ipsx gateway</code>) then carries the traffic.</p>
    <div class="grid">
      <label>Country <input name="country" value=${c} onInput=${set("country")} maxlength="2" size="3" required /></label>
      <label>IP type <select name="type" value=${form.type} onChange=${set("type")}>${["any", "residential", "datacenter", "mobile"].map((t) => html`<option>${t}</option>`)}</select></label>
      <label>Protocol <select name="protocol" value=${form.protocol} onChange=${set("protocol")}>${Object.keys(PROTOCOLS).map((t) => html`<option>${t}</option>`)}</select></label>
      <label>Scope <select name="scope" value=${form.scope} onChange=${set("scope")}>${Object.keys(SCOPES).map((t) => html`<option>${t}</option>`)}</select></label>
      <label>Seconds <input name="duration" value=${form.duration} onInput=${set("duration")} inputmode="numeric" required /></label>
      <label>IPs <input name="count" value=${form.count} onInput=${set("count")} inputmode="numeric" required /></label>
      <label>Highest IPSX per hour <input name="price" value=${form.price} onInput=${set("price")} inputmode="decimal" required /></label>
    </div>
    <button type="submit" disabled=${busy}>${busy ? "Waiting for the wallet…" : "Sign with the wallet and place"}</button>
    <${ErrorLine} error=${error} />
    ${placed && html`<p class="ok" role="status" data-testid="placed">Placed: book id ${placed.id}, hash <span class="mono">${placed.hash}</span>;${" "}
      ${placed.deals && placed.deals.length ? `${placed.deals.length} deal(s) opened` : "resting in the book"}; budget ${ipsx(placed.budget)} IPSX.</p>`}
  </form>`;
}
