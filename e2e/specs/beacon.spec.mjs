// Beacon in a real browser against real simulator data. The shared e2e server has no
// PSA, so this spec starts its own pair: `hivematrix sim` (the Freshservice simulator)
// and `hivematrix serve` configured with `[psa.freshservice]` pointing at it, in a
// fresh data dir. Then: the board fills from a sync started with its own button, all
// four sections render, a ticket changed upstream (the simulator's PUT /tickets/{id})
// moves to "Customer Replied" after the next sync without a page reload, the ticket
// modal opens, and the TV display works with a display token.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { step, password } from "../lib.mjs";

const bin = process.env.HIVEMATRIX_BIN;
const dir = mkdtempSync(path.join(tmpdir(), "hm-e2e-beacon-"));
const children = [];
after(() => {
  for (const c of children) c.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `hivematrix …` and resolves with the first URL its stdout announces. */
function start(args, pattern) {
  const child = spawn(bin, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, HIVEMATRIX_RATE_LIMIT_PER_MINUTE: "0" },
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`${args[0]} did not start: ${buf}`)), 20000);
    child.stdout.on("data", (d) => {
      buf += d;
      const m = buf.match(pattern);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on("exit", (code) => reject(new Error(`${args.join(" ")} exited (${code}): ${buf}`)));
  });
}

test("beacon: the board fills from a sync and follows a ticket changed upstream", async (t) => {
  const simUrl = await start(
    ["sim", "--listen", "127.0.0.1:0", "--seed", "3", "--companies", "4", "--contacts", "20",
     "--agents", "4", "--tickets", "60", "--devices", "0", "--scale-limits", "100"],
    /vendor simulators on (http:\/\/\S+)/,
  );
  const config = path.join(dir, "hivematrix.toml");
  writeFileSync(config, `[psa.freshservice]\nurl = "${simUrl}/freshservice"\napi_key = "sim-freshservice-key"\nper_minute = 20000\n`);
  const data = path.join(dir, "data");
  const admin = "beacon-admin@e2e.test";
  const add = spawnSync(bin, ["--data-dir", data, "--config", config, "user", "add", "--email", admin,
    "--name", "Beacon Admin", "--role", "admin", "--password-stdin"], { input: password + "\n", encoding: "utf8" });
  assert.equal(add.status, 0, add.stderr);
  const base = await start(["--data-dir", data, "--config", config, "serve", "--listen", "127.0.0.1:0"],
    /listening on (http:\/\/\S+)/);

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
  t.after(() => browser.close());
  const context = await browser.newContext({ baseURL: base });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.testName = "beacon board";

  await step(page, "log in and open the board", async () => {
    await page.goto("/login");
    await page.fill("#email", admin);
    await page.fill("#password", password);
    await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
    await page.goto("/beacon/helpdesk");
    assert.equal(await page.locator("h1").innerText(), "Helpdesk");
    assert.equal(await page.locator(".sidebar a[href='/beacon/helpdesk']").count(), 1);
  });

  // Waits for this click's job to end: the previous job's finished panel is still on
  // the page until the answer replaces it, so wait for a finished panel with other text.
  const sync = async () => {
    const before = await page.locator("#beacon-sync").innerText();
    await page.click("#beacon-sync-button");
    await page.waitForFunction((prev) => {
      const el = document.querySelector(".beacon-sync-progress[data-done='true']");
      return el && el.innerText !== prev;
    }, before);
    assert.match(await page.locator(".beacon-sync-progress").innerText(), /completed/);
  };

  await step(page, "sync fills all four sections", async () => {
    await sync();
    await page.waitForSelector("#beacon-board tr[data-ticket-id]");
    const titles = await page.locator("#beacon-board section h2").allInnerTexts();
    assert.equal(titles.length, 4);
    assert.match(titles[0], /^Open Helpdesk Tickets/);
    assert.match(titles[1], /^Customer Replied/);
    assert.match(titles[2], /^Needs Agent \/ Update Overdue/);
    assert.match(titles[3], /^Other Active Helpdesk Tickets/);
    const total = Number(await page.locator("#beacon-counter strong").innerText());
    assert.ok(total > 0, `total ${total}`);
    assert.equal(await page.locator("#beacon-board tr[data-ticket-id]").count(), total);
  });

  let id;
  await step(page, "a ticket changed upstream moves after the next sync", async () => {
    id = await page.locator("#section-1 tr[data-ticket-id], #section-3 tr[data-ticket-id], #section-4 tr[data-ticket-id]")
      .first().getAttribute("data-ticket-id");
    const resp = await fetch(`${simUrl}/freshservice/api/v2/tickets/${id}`, {
      method: "PUT",
      headers: {
        "content-type": "application/json",
        authorization: "Basic " + Buffer.from("sim-freshservice-key:X").toString("base64"),
      },
      body: JSON.stringify({ status: 26, subject: "E2E <moved> upstream" }),
    });
    assert.equal(resp.status, 200, await resp.text());
    await sync();
    // No reload: the finished job tells the board to refetch its sections.
    await page.waitForSelector(`#section-2 tr[data-ticket-id='${id}']`);
    assert.match(await page.locator(`#section-2 tr[data-ticket-id='${id}'] td.subject`).innerText(), /E2E <moved> upstream/);
    // Kept as an artefact: what the board looked like.
    await page.screenshot({ path: path.join(process.env.E2E_OUT || ".", "beacon-board.png"), fullPage: false });
  });

  await step(page, "the subject opens the ticket modal", async () => {
    await page.click(`#section-2 tr[data-ticket-id='${id}'] td.subject button`);
    await page.waitForSelector("dialog#beacon-modal[open]");
    assert.match(await page.locator("#beacon-modal").innerText(), /Customer Replied/);
    await page.click("#beacon-modal form[method=dialog] button");
    await page.waitForSelector("dialog#beacon-modal:not([open])", { state: "attached" });
  });

  await step(page, "the TV display reads the board with a display token", async () => {
    const created = await page.evaluate(async () => {
      const csrf = document.querySelector('meta[name="csrf-token"]').content;
      const r = await fetch("/beacon/api/display-tokens", {
        method: "POST",
        headers: { "content-type": "application/json", "x-csrf-token": csrf },
        body: JSON.stringify({ name: "E2E wall" }),
      });
      return r.json();
    });
    assert.match(created.token, /^hmd_/);
    const tv = await (await browser.newContext({ baseURL: base })).newPage();
    tv.testName = "beacon tv";
    const resp = await tv.goto(`/beacon/display/helpdesk?token=${created.token}`);
    assert.equal(resp.status(), 200);
    assert.equal(await tv.locator(".sidebar").count(), 0);
    assert.equal(await tv.locator(".beacon-tv section h2").count(), 4);
    assert.equal(await tv.locator(`#section-2 tr[data-ticket-id='${id}']`).count(), 1);
    await tv.screenshot({ path: path.join(process.env.E2E_OUT || ".", "beacon-tv.png"), fullPage: false });
    const refused = await tv.goto("/beacon/display/helpdesk?token=hmd_wrong");
    assert.equal(refused.status(), 401);
  });
});
