// Helpers for the specs: one headless Chromium per spec file, a fresh context (cookie
// jar) per test, and `step`, which keeps a screenshot of the page when a step fails.
import { chromium } from "playwright-core";
import { after } from "node:test";
import path from "node:path";

export const baseUrl = process.env.E2E_BASE_URL;
export const password = process.env.E2E_PASSWORD;
export const users = {
  admin: process.env.E2E_ADMIN_EMAIL,
  tech: process.env.E2E_TECH_EMAIL,
  billing: process.env.E2E_BILLING_EMAIL,
};
const out = process.env.E2E_OUT || ".";
if (!baseUrl) throw new Error("run the specs through run.mjs (E2E_BASE_URL is not set)");

let browserPromise;
function browser() {
  browserPromise ??= chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
  return browserPromise;
}
after(async () => { if (browserPromise) await (await browserPromise).close(); });

/** A new page in its own context (own cookies), closed when the test ends. */
export async function newPage(t) {
  const context = await (await browser()).newContext({ baseURL: baseUrl });
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  t.after(() => context.close());
  page.testName = t.name;
  return page;
}

/** Runs one named step; on failure saves `<test> - <step>.png` in E2E_OUT and rethrows. */
export async function step(page, name, fn) {
  try {
    return await fn();
  } catch (e) {
    const file = `${page.testName} - ${name}`.replace(/[^\w.-]+/g, "_") + ".png";
    await page.screenshot({ path: path.join(out, file), fullPage: true }).catch(() => {});
    e.message = `step "${name}": ${e.message} (screenshot ${file})`;
    throw e;
  }
}

/** Logs in through the form and waits for the page after it. */
export async function login(page, email, pass = password) {
  await page.goto("/login");
  await page.fill("#email", email);
  await page.fill("#password", pass);
  await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
}
