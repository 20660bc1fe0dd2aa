import { test } from "node:test";
import assert from "node:assert/strict";
import { newPage, step, login, users } from "../lib.mjs";

test("login: a page sends you to the login form and back; logout ends the session", async (t) => {
  const page = await newPage(t);
  await step(page, "redirected to login", async () => {
    await page.goto("/codex");
    assert.match(page.url(), /\/login\?next=\/codex$/);
    assert.equal(await page.locator(".sidebar").count(), 0);
  });
  await step(page, "wrong password", async () => {
    await page.fill("#email", users.admin);
    await page.fill("#password", "wrong");
    await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
    assert.match(await page.locator(".flash-error").innerText(), /invalid|incorrect|wrong/i);
  });
  await step(page, "right password lands on next", async () => {
    await login(page, users.admin);
    await page.goto("/login?next=/codex");
    assert.match(page.url(), /\/codex$/);
    await page.locator(".sidebar").waitFor();
    assert.equal(await page.locator("h1").innerText(), "Codex");
  });
  await step(page, "logout", async () => {
    await Promise.all([page.waitForNavigation(), page.click("text=Log out")]);
    assert.match(page.url(), /\/login$/);
    assert.match(await page.locator(".flash").innerText(), /logged out/);
    await page.goto("/codex");
    assert.match(page.url(), /\/login/);
  });
});
