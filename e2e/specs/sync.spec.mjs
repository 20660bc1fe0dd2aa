// The Data Sync Center in a real browser: an admin points the shared server at a
// Freshservice simulator through the provider form (a mistake first), presses
// "Sync PSA" and watches the jobs panel update itself until the job has completed,
// without reloading the page; then opens the job. A technician cannot reach the page.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { newPage, step, login, users } from "../lib.mjs";

const children = [];
after(() => { for (const c of children) c.kill("SIGTERM"); });

/** `hivematrix sim` on a free port; resolves with its base URL. */
function startSim() {
  const child = spawn(process.env.HIVEMATRIX_BIN, ["sim", "--listen", "127.0.0.1:0", "--seed", "9",
    "--companies", "6", "--contacts", "30", "--agents", "3", "--tickets", "20", "--devices", "0",
    "--scale-limits", "100"], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`sim did not start: ${buf}`)), 20000);
    child.stdout.on("data", (d) => {
      buf += d;
      const m = buf.match(/vendor simulators on (http:\/\/\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
  });
}

test("sync: configure a provider, run a sync and watch it finish", async (t) => {
  const sim = await startSim();
  const page = await newPage(t);
  await login(page, users.admin);
  const card = "#provider-psa-freshservice";
  await step(page, "open the centre", async () => {
    await page.goto("/codex/admin/sync");
    assert.match(await page.locator("h1").innerText(), /Data Sync Center/);
    assert.match(await page.locator("body").innerText(), /No PSA or RMM is configured yet/);
  });
  await step(page, "a provider without its key is refused on its card", async () => {
    await page.fill(`${card} input[name=url]`, `${sim}/freshservice`);
    await Promise.all([page.waitForNavigation(), page.click(`${card} button[type=submit]`)]);
    assert.match(await page.locator(`${card} .flash-error`).innerText(), /api_key/);
  });
  await step(page, "save it with the key", async () => {
    await page.fill(`${card} input[name=url]`, `${sim}/freshservice`);
    await page.fill(`${card} input[name=api_key]`, "sim-freshservice-key");
    await page.fill(`${card} input[name=per_minute]`, "20000");
    await Promise.all([page.waitForNavigation(), page.click(`${card} button[type=submit]`)]);
    assert.match(await page.locator(".flash-success").innerText(), /Freshservice \(PSA\) saved/);
    assert.match(await page.locator(card).innerText(), /active/);
    assert.doesNotMatch(await page.content(), /sim-freshservice-key/);
  });
  await step(page, "run the base sync and watch the panel", async () => {
    const url = page.url();
    await page.click("button[name=kind][value=base]");
    await page.locator("#sync-jobs").getByText(/queued as job/).waitFor();
    await page.locator("#sync-jobs .status-completed").first().waitFor({ timeout: 30000 });
    assert.equal(page.url(), url, "no reload");
    assert.match(await page.locator("#sync-jobs").innerText(), /companies 6/);
    // Kept as an artefact: what the centre looks like after a sync.
    await page.screenshot({ path: path.join(process.env.E2E_OUT || ".", "sync-center.png"), fullPage: true });
  });
  await step(page, "open the job", async () => {
    await Promise.all([page.waitForNavigation(), page.locator("#sync-jobs tbody a").first().click()]);
    assert.match(await page.locator("h1").innerText(), /freshservice base/);
    assert.match(await page.locator("table").innerText(), /companies/);
  });
  await step(page, "a technician is refused", async () => {
    const tech = await newPage(t);
    await login(tech, users.tech);
    const resp = await tech.goto("/codex/admin/sync");
    assert.equal(resp.status(), 403);
  });
});
