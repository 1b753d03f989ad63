// The browser half of the web app's tests (label `ui`): Debian's chromium driven by
// puppeteer-core, against a live node, providers and gateway that the calling script started.
// Prints one "ok ..." or "FAIL ..." line per check (the script counts them) and exits 0 unless
// the browser itself could not run.
//
//   node ui_browser.mjs market NODE_URL SCREENSHOT_DIR
// Steps the script waits on are driven through files: the browser half writes STEP files in the
// scratch directory given by UI_SYNC, and waits for the script's answers there.
import puppeteer from "puppeteer-core";
import { Wallet, TypedDataEncoder } from "ethers";
import { existsSync, writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [, , page_name, url, shots] = process.argv;
const sync = process.env.UI_SYNC;
let failures = 0;
const ok = (m) => console.log(`ok   ${m}`);
const bad = (m) => {
  failures++;
  console.log(`FAIL ${m}`);
};
const check = async (what, f) => {
  try {
    const r = await f();
    if (r === false) bad(what);
    else ok(typeof r === "string" ? `${what}: ${r}` : what);
  } catch (e) {
    bad(`${what}: ${e.message.split("\n")[0]}`);
  }
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Tells the script `step` happened and waits (up to `ms`) for its answer file.
async function handshake(step, username, ms = 60000) {
  writeFileSync(join(sync, step), username);
  const done = join(sync, `${step}.done`);
  for (let t = 0; t < ms; t += 100) {
    if (existsSync(done)) return readFileSync(done, "utf8").trim();
    await sleep(100);
  }
  throw new Error(`the script did not answer ${step}`);
}

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
});
try {
  if (page_name === "market") await market();
  else if (page_name === "requester") await requester();
  else if (page_name === "provider") await provider();
  else throw new Error(`no browser test for page '${page_name}'`);
} finally {
  await browser.close();
}
process.exit(failures ? 1 : 0);

async function newPage() {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const problems = [];
  // (A 4xx the page asked for and handled, as the explorer's lookups, is logged by the browser
  // as "Failed to load resource": not a problem of the page's.)
  page.on("console", (m) => m.type() === "error" && !/^Failed to load resource: .* 4\d\d/.test(m.text()) && problems.push(m.text()));
  page.on("pageerror", (e) => problems.push(e.message));
  return { page, problems };
}

async function market() {
  const { page, problems } = await newPage();
  // A test wallet in the page (EIP-1193): the key stays here, in the test; the page only asks it
  // to sign.
  const wallet = Wallet.createRandom();
  let signed = 0;
  await page.exposeFunction("__uiTestSign", async (typedJson) => {
    const td = JSON.parse(typedJson);
    const types = { ...td.types };
    delete types.EIP712Domain;
    signed++;
    // The digest ethers computes must be the one the node recovers: the same typed data.
    TypedDataEncoder.hash(td.domain, types, td.message);
    return wallet.signTypedData(td.domain, types, td.message);
  });
  await page.evaluateOnNewDocument((address) => {
    window.ethereum = {
      isUiTest: true,
      request: async ({ method, params }) => {
        if (method === "eth_requestAccounts" || method === "eth_accounts") return [address];
        if (method === "eth_signTypedData_v4") {
          if (params[0].toLowerCase() !== address.toLowerCase()) throw { code: 4100, message: "unknown account" };
          return window.__uiTestSign(params[1]);
        }
        throw { code: 4200, message: `unsupported method ${method}` };
      },
    };
  }, wallet.address);

  const res = await page.goto(url + "/", { waitUntil: "networkidle0", timeout: 30000 });
  await check("GET / answers the market page", async () => res.status() === 200 && (await page.title()) === "IPSX market");
  await check("the page's script and style come compressed with a policy that keeps it to this server", async () => {
    const h = res.headers();
    return /script-src 'self'/.test(h["content-security-policy"] || "") ? "CSP set" : false;
  });
  await check("the stream is live", () => page.waitForFunction(() => document.querySelector("[data-testid=stream]")?.textContent === "live", { timeout: 10000 }).then(() => true));
  await check("the map shades the demo's countries (DE and US)", async () => {
    await page.waitForFunction(() => ["DE", "US"].every((c) => /\bs[1-6]\b/.test(document.querySelector(`path[data-country=${c}]`)?.getAttribute("class") || "")), { timeout: 15000 });
    const fr = await page.$eval("path[data-country=FR]", (e) => e.getAttribute("class"));
    return /\bs0\b/.test(fr) ? "DE and US shaded, FR not" : false;
  });
  await check("a country chosen by keyboard shows its depth", async () => {
    await page.$eval("path[data-country=DE]", (e) => e.focus());
    await page.keyboard.press("Enter");
    await page.waitForSelector("[data-testid=depth] table", { timeout: 10000 });
    const text = await page.$eval("[data-testid=depth]", (e) => e.textContent);
    return /Germany \(DE\)/.test(text) && /Offers: residential/.test(text) ? "Germany's residential offers listed" : false;
  });
  const dealsBefore = await page.$$eval("#deals [data-deal]", (e) => e.length);
  // The script now sends curl through the gateway: a deal opens at the node.
  await handshake("deal", "country-de");
  await check("a deal appears live in the deals table (no reload)", async () => {
    await page.waitForFunction((n) => document.querySelectorAll("#deals [data-deal]").length > n, { timeout: 20000 }, dealsBefore);
    return `${await page.$$eval("#deals [data-deal]", (e) => e.length)} deal(s) listed`;
  });
  await check("the deal's protocol state is shown and moves to active", async () => {
    await page.waitForFunction(() => [...document.querySelectorAll("#deals [data-testid=phase]")].some((e) => e.textContent === "active"), { timeout: 20000 });
    return true;
  });
  await check("the prices chart draws the deal", async () => {
    await page.waitForSelector("#prices svg.chart circle", { timeout: 15000 });
    return true;
  });
  await check("a deal picked in the table opens in the ledger explorer", async () => {
    await page.click("#deals [data-deal]");
    await page.waitForFunction(() => document.querySelector("[data-testid=found] h3")?.textContent === "Deal", { timeout: 10000 });
    const text = await page.$eval("[data-testid=found]", (e) => e.textContent);
    return /deposit/.test(text) && /At the market/.test(text);
  });
  await check("searching a block number shows the block", async () => {
    await page.$eval("#q", (e) => (e.value = ""));
    await page.type("#q", "1");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.querySelector("[data-testid=found] h3")?.textContent === "Block", { timeout: 10000 });
    return true;
  });
  await check("an unknown transaction shows the API's own error", async () => {
    await page.$eval("#q", (e) => (e.value = ""));
    await page.type("#q", "0x" + "ab".repeat(32));
    await page.keyboard.press("Enter");
    // (the search's own error line: another, the latest blocks', may say something else meanwhile)
    await page.waitForFunction(() => [...document.querySelectorAll("#explorer .error")].some((e) => /^404 unknown_/.test(e.textContent)), { timeout: 10000 }).catch(async () => {
      throw new Error(`errors shown: ${await page.$$eval("#explorer .error", (l) => l.map((e) => e.textContent).join(" | "))}`);
    });
    return page.$$eval("#explorer .error", (l) => l.map((e) => e.textContent).find((t) => /^404 unknown_/.test(t)));
  });
  await check("the crowd sale's state is shown", async () => {
    const s = await page.$eval("[data-testid=sale-state]", (e) => e.textContent);
    return ["upcoming", "open", "ended", "finalized", "failed"].includes(s) ? s : false;
  });
  await check("a bad price is refused in the page, before the wallet is asked", async () => {
    await page.$eval("form.order input[name=price]", (e) => (e.value = ""));
    await page.type("form.order input[name=price]", "abc");
    await page.click("form.order button[type=submit]");
    await page.waitForSelector("form.order .error", { timeout: 5000 });
    const text = await page.$eval("form.order .error", (e) => e.textContent);
    return signed === 0 && /not an amount of IPSX/.test(text);
  });
  await check("a request signed by the page's wallet is placed and rests in the book", async () => {
    await page.$eval("form.order input[name=price]", (e) => (e.value = ""));
    await page.type("form.order input[name=price]", "0.0000036");
    await page.click("form.order button[type=submit]");
    await page.waitForSelector("[data-testid=placed]", { timeout: 15000 });
    const r = await fetch(`${url}/v1/orders?owner=${wallet.address.toLowerCase()}&side=request`).then((x) => x.json());
    return signed === 1 && r.orders.length === 1 && r.orders[0].state === "resting" ? `book id ${r.orders[0].id}` : false;
  });
  await check("the page logged no errors", async () => (problems.length === 0 ? true : (() => { throw new Error(problems.join(" | ")); })()));
  if (shots) {
    await sleep(1500);  // the sections read again after the placement's event
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(shots, "market.png"), fullPage: true });
    ok(`screenshot ${join(shots, "market.png")}`);
  }
}

async function requester() {
  const { page, problems } = await newPage();
  await check("the console asks for its password", async () => (await fetch(url + "/")).status === 401);
  await page.authenticate({ username: "me", password: process.env.UI_PASSWORD });
  const res = await page.goto(url + "/", { waitUntil: "networkidle0", timeout: 30000 });
  await check("signed in, the console's page loads", async () => res.status() === 200 && (await page.title()) === "IPSX requester console");
  await check("the console's stream is live (its WebSocket, signed in)", () => page.waitForFunction(() => document.querySelector("[data-testid=stream]")?.textContent === "live", { timeout: 10000 }).then(() => true));
  await check("the proxy endpoint is shown with examples to copy", async () => {
    await page.waitForSelector("[data-testid=endpoint]", { timeout: 10000 });
    const ex = await page.$eval("[data-testid=example]", (e) => e.textContent);
    return /curl -x http:\/\/country-de:/.test(ex) ? "curl example" : false;
  });
  await check("the lease the market page's curl made is listed with its bytes", async () => {
    await page.waitForSelector("#leases [data-deal]", { timeout: 10000 });
    return `${await page.$$eval("#leases [data-deal]", (e) => e.length)} lease(s)`;
  });
  let username = "";
  await check("a lease bought on the map (US) is ready, with the username that reaches it", async () => {
    await page.waitForSelector("button[data-chip=US]", { timeout: 15000 });
    await page.click("button[data-chip=US]");
    await page.click("[data-testid=lease]");
    await page.waitForSelector("[data-testid=leased]", { timeout: 30000 });
    username = await page.$eval("[data-testid=leased-username]", (e) => e.textContent);
    return /^country-us-session-ui_[0-9a-f]{8}-ttl-\d+$/.test(username) ? username : false;
  });
  await check("that lease serves curl from the US provider's IP", async () => {
    const seen = await handshake("us1", username);
    return seen === "127.0.0.3" ? seen : (() => { throw new Error(`the destination saw '${seen}'`); })();
  });
  await check("its bytes grow in the leases table as curl uses it again", async () => {
    const down = async () => page.$$eval("[data-testid=down]", (e) => e.map((x) => x.textContent).join(" "));
    await sleep(2500);
    const before = await down();
    await handshake("us2", username);
    await page.waitForFunction((b) => [...document.querySelectorAll("[data-testid=down]")].map((x) => x.textContent).join(" ") !== b, { timeout: 10000 }, before);
    return `${before} -> ${await down()}`;
  });
  await check("the per-deal credentials are listed as ip:port:user:pass lines", async () => {
    await page.waitForSelector("[data-testid=export]", { timeout: 10000 });
    const lines = (await page.$eval("[data-testid=export]", (e) => e.textContent)).split("\n");
    return lines.some((l) => /^127\.0\.0\.3:\d+:[^:]+:[^:]+$/.test(l)) ? `${lines.length} line(s)` : false;
  });
  await check("the example now names the leased session", async () => {
    const ex = await page.$eval("[data-testid=example]", (e) => e.textContent);
    return ex.includes(username);
  });
  await check("the page logged no errors", async () => (problems.length === 0 ? true : (() => { throw new Error(problems.join(" | ")); })()));
  await check("a country with no offer: the console shows the gateway's reason", async () => {
    const r = await page.evaluate(async () => {
      const x = await fetch("/v1/leases", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username: "country-fr" }) });
      return `${x.status} ${(await x.json()).error.message}`;
    });
    return /^503 no leased IP fits country-fr/.test(r) ? r.slice(0, 80) : (() => { throw new Error(r); })();
  });
  await check("a VPN configuration where no exit serves vpn: the gateway's reason on the page", async () => {
    await page.click("[data-testid=vpn]");
    await page.waitForSelector("#vpn .error", { timeout: 30000 });
    const text = await page.$eval("#vpn .error", (e) => e.textContent);
    return /^503 no_tunnel: /.test(text) ? text.slice(0, 90) : (() => { throw new Error(text); })();
  });
  if (shots) {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(shots, "requester.png"), fullPage: true });
    ok(`screenshot ${join(shots, "requester.png")}`);
  }
}

// The DE provider's console: its second IP (127.0.0.4, not leased) changed and paused, each
// change seen in the market's depth.
async function provider() {
  const { page, problems } = await newPage();
  const node = process.env.UI_NODE;
  const depthPrices = async () => {
    const d = await fetch(`${node}/v1/market/depth?country=DE&type=residential`).then((x) => x.json());
    return d.offers.residential.map((l) => l.pricePerSecond);
  };
  await check("the console asks for its password", async () => (await fetch(url + "/v1/console")).status === 401);
  await page.authenticate({ username: "me", password: process.env.UI_PASSWORD });
  const res = await page.goto(url + "/", { waitUntil: "networkidle0", timeout: 30000 });
  await check("signed in, the console's page loads", async () => res.status() === 200 && (await page.title()) === "IPSX provider console");
  await check("the console's stream is live (its WebSocket, signed in)", () => page.waitForFunction(() => document.querySelector("[data-testid=stream]")?.textContent === "live", { timeout: 10000 }).then(() => true));
  await check("both IPs are listed with the node's checks", async () => {
    await page.waitForSelector("button[data-edit='127.0.0.4']", { timeout: 10000 });
    const text = await page.$eval("#ips table", (e) => e.textContent);
    if (!text.includes(process.env.UI_HOURS)) throw new Error(`no ${process.env.UI_HOURS} (the config's hours) in ${text}`);
    return /127\.0\.0\.2/.test(text) && /accepted at/.test(text) ? `127.0.0.2, and 127.0.0.4 on sale ${process.env.UI_HOURS}, accepted` : false;
  });
  await check("the DE deal is listed with its bytes and what was paid", async () => {
    await page.waitForFunction(() => [...document.querySelectorAll("#deals [data-testid=paid]")].some((e) => e.textContent !== "0"), { timeout: 20000 });
    const down = await page.$$eval("#deals [data-testid=down]", (e) => e.map((x) => x.textContent));
    return down.some((d) => d !== "0 B") ? `down ${down.join(", ")}` : false;
  });
  await check("the earnings chart draws what was paid", async () => {
    await page.waitForSelector("#earnings svg.chart circle", { timeout: 15000 });
    return true;
  });
  const before = await depthPrices();
  await check("a bad price is refused on the page", async () => {
    await page.click("button[data-edit='127.0.0.4']");
    await page.waitForSelector("form[data-ip='127.0.0.4']", { timeout: 5000 });
    await page.type("form[data-ip='127.0.0.4'] input[name=price]", "cheap");
    await page.click("form[data-ip='127.0.0.4'] [data-testid=change]");
    await page.waitForSelector("form[data-ip='127.0.0.4'] .error", { timeout: 5000 });
    return /not an amount of IPSX/.test(await page.$eval("form[data-ip='127.0.0.4'] .error", (e) => e.textContent));
  });
  await check("a new price signed by the agent shows in the market's depth", async () => {
    await page.$eval("form[data-ip='127.0.0.4'] input[name=price]", (e) => (e.value = ""));
    await page.type("form[data-ip='127.0.0.4'] input[name=price]", "7.2");  // 0.002 IPSX a second
    await page.click("form[data-ip='127.0.0.4'] [data-testid=change]");
    await page.waitForSelector("[data-testid=done]", { timeout: 15000 });
    const done = await page.$eval("[data-testid=done]", (e) => e.textContent);
    const after = await depthPrices();
    if (!after.includes("2000000000000000") || after.includes("1500000000000000"))
      throw new Error(`depth ${JSON.stringify(before)} -> ${JSON.stringify(after)}; the console said: ${done}`);
    return `${JSON.stringify(before)} -> ${JSON.stringify(after)}`;
  });
  await check("pausing the IP takes its offer off the book", async () => {
    await page.click("form[data-ip='127.0.0.4'] [data-testid=pause]");
    await page.waitForFunction(() => /paused/.test(document.querySelector("[data-testid=done]")?.textContent || ""), { timeout: 15000 });
    const after = await depthPrices();
    return after.includes("2000000000000000") ? (() => { throw new Error(`still in the depth: ${after}`); })() : `depth ${JSON.stringify(after)}`;
  });
  await check("resuming puts it back at its new price", async () => {
    await page.waitForFunction(() => /Resume/.test(document.querySelector("form[data-ip='127.0.0.4'] [data-testid=pause]")?.textContent || ""), { timeout: 10000 });
    await page.click("form[data-ip='127.0.0.4'] [data-testid=pause]");
    await page.waitForFunction(() => /new offer/.test(document.querySelector("[data-testid=done]")?.textContent || ""), { timeout: 15000 });
    const after = await depthPrices();
    return after.includes("2000000000000000") ? `depth ${JSON.stringify(after)}` : (() => { throw new Error(`not back: ${after}`); })();
  });
  // Empties an input as a user does, so the page's state follows: a value set without an input
  // event is put back by the next render (the console re-renders on every update it streams),
  // and what was typed after it then went into the old text.
  const clearInput = (selector) =>
    page.$eval(selector, (e) => {
      e.value = "";
      e.dispatchEvent(new Event("input", { bubbles: true }));
    });
  // The offer of 127.0.0.4 as the book has it now (the newest resting one).
  const offerOf4 = async () => {
    const r = await fetch(`${node}/v1/orders?side=offer&state=resting&country=DE&limit=500`).then((x) => x.json());
    return r.orders.filter((o) => o.offer.ip === "127.0.0.4").pop();
  };
  await check("daily hours set on the console: the offer sells only from the next window", async () => {
    const h = (new Date().getUTCHours() + 2) % 24, pad = (n) => String(n).padStart(2, "0");
    const hours = `${pad(h)}:00-${pad((h + 1) % 24)}:00`;
    await clearInput("form[data-ip='127.0.0.4'] input[name=hours]");
    await page.type("form[data-ip='127.0.0.4'] input[name=hours]", hours);
    await clearInput("form[data-ip='127.0.0.4'] input[name=price]");
    await page.click("form[data-ip='127.0.0.4'] [data-testid=change]");
    await page.waitForFunction((h) => [...document.querySelectorAll("#ips td")].some((e) => e.textContent === h), { timeout: 15000 }, hours);
    const o = await offerOf4();
    const from = o.offer.availableFrom, until = o.offer.availableUntil, now = Date.now() / 1000;
    if (!(from > now + 3600 && until - from === 3600)) throw new Error(`window ${from}..${until}, now ${now}`);
    return `${hours}: on sale from ${new Date(from * 1000).toISOString()} for an hour`;
  });
  await check("hours cleared: on sale at once again", async () => {
    await clearInput("form[data-ip='127.0.0.4'] input[name=hours]");
    await page.type("form[data-ip='127.0.0.4'] input[name=hours]", " ");
    await page.click("form[data-ip='127.0.0.4'] [data-testid=change]");
    try {
      await page.waitForFunction(() => [...document.querySelectorAll("#ips td")].filter((e) => e.textContent === "always").length === 2, { timeout: 30000 });
    } catch (e) {
      // What the page says instead: the agent's refusal, or the table as it stands.
      const seen = await page.evaluate(() => ({
        error: document.querySelector("form[data-ip='127.0.0.4'] .error")?.textContent || "",
        done: document.querySelector("[data-testid=done]")?.textContent || "",
        button: document.querySelector("form[data-ip='127.0.0.4'] [data-testid=change]")?.textContent || "",
        rows: [...document.querySelectorAll("#ips tr")].map((r) => r.textContent),
      }));
      throw new Error(`${e.message}; the page: ${JSON.stringify(seen)}`);
    }
    const o = await offerOf4();
    return o.offer.availableFrom <= Date.now() / 1000 ? `from ${o.offer.availableFrom}` : (() => { throw new Error(`from ${o.offer.availableFrom}`); })();
  });
  await check("a bad range in the exit's lists is refused with the field named", async () => {
    await page.$eval("form.policy textarea[name=deny]", (e) => (e.value = ""));
    await page.type("form.policy textarea[name=deny]", "10.0.0.0/99");
    await page.click("[data-testid=policy]");
    await page.waitForSelector("form.policy .error", { timeout: 5000 });
    const text = await page.$eval("form.policy .error", (e) => e.textContent);
    return /^400 invalid_field: 10\.0\.0\.0\/99/.test(text) ? text : (() => { throw new Error(text); })();
  });
  await check("the allow list emptied: the exit refuses the loopback destination at once", async () => {
    await page.$eval("form.policy textarea[name=deny]", (e) => (e.value = ""));
    await page.type("form.policy textarea[name=deny]", " ");
    await page.$eval("form.policy textarea[name=allow]", (e) => (e.value = ""));
    await page.type("form.policy textarea[name=allow]", " ");
    await page.$eval("form.policy", (f) => f.requestSubmit());
    await page.waitForSelector("[data-testid=policy-done]", { timeout: 10000 }).catch(async () => {
      throw new Error(`no answer: ${await page.$eval("form.policy", (e) => e.textContent.slice(-300))}`);
    });
    const seen = await handshake("policy1", "country-de");
    return seen !== "127.0.0.2" ? `curl got: ${seen.split("\n")[0].slice(0, 80)}` : (() => { throw new Error("still reached"); })();
  });
  await check("allowed again: the same lease reaches it", async () => {
    await page.type("form.policy textarea[name=allow]", "127.0.0.0/8");
    await page.$eval("form.policy", (f) => f.requestSubmit());
    await page.waitForFunction(() => /allows 1 /.test(document.querySelector("[data-testid=policy-done]")?.textContent || ""), { timeout: 10000 });
    const seen = await handshake("policy2", "country-de");
    return seen === "127.0.0.2" ? seen : (() => { throw new Error(`curl got: ${seen}`); })();
  });
  await check("the page logged no errors", async () => (problems.length === 0 ? true : (() => { throw new Error(problems.join(" | ")); })()));
  await check("a page of another site, opened where the console is signed in, changes nothing and reads nothing", async () => {
    const state = () => page.evaluate(async () => {
      const c = await (await fetch("/v1/console")).json();
      return JSON.stringify({ policy: c.policy, paused: c.ips.map((i) => i.paused) });
    });
    const before = await state();
    const evil = await page.browserContext().newPage();
    await evil.goto(`${process.env.UI_EVIL}?target=${encodeURIComponent(url)}`, { timeout: 10000 });
    await evil.waitForFunction(() => document.title.startsWith("done"), { timeout: 15000 });
    const title = await evil.title();
    await evil.close();
    await sleep(1500);  // (a change would be applied within the agent's next second)
    const after = await state();
    if (after !== before) throw new Error(`the console changed: ${before} -> ${after}`);
    if (title !== "done nothing read") throw new Error(`the other site's WebSocket got: ${title}`);
    return "policy and IPs unchanged, its WebSocket read nothing";
  });
  if (shots) {
    await sleep(1000);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(shots, "provider.png"), fullPage: true });
    ok(`screenshot ${join(shots, "provider.png")}`);
  }
}
