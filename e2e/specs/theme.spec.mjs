import { test } from "node:test";
import assert from "node:assert/strict";
import { newPage, step, login, users } from "../lib.mjs";

const attr = (page, name) => page.locator("html").getAttribute(name);

test("theme: the sidebar toggle and the settings page persist across reloads and logins", async (t) => {
  const page = await newPage(t);
  await login(page, users.billing);
  await step(page, "toggle to dark", async () => {
    await page.goto("/codex");
    await Promise.all([page.waitForNavigation(), page.click("#theme-toggle")]);
    assert.match(page.url(), /\/codex$/);
    assert.equal(await attr(page, "data-theme"), "dark");
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(bg, "rgb(21, 19, 27)");
  });
  await step(page, "dark after reload", async () => {
    await page.reload();
    assert.equal(await attr(page, "data-theme"), "dark");
  });
  await step(page, "colour theme from settings", async () => {
    await page.goto("/settings");
    await page.selectOption("#f-preferred_color_theme", "green");
    await Promise.all([page.waitForNavigation(), page.click("text=Save settings")]);
    assert.match(await page.locator(".flash-success").innerText(), /Settings saved/);
    assert.equal(await attr(page, "data-color-theme"), "green");
  });
  await step(page, "kept in a new session", async () => {
    const other = await newPage(t);
    await login(other, users.billing);
    await other.goto("/codex");
    assert.equal(await attr(other, "data-theme"), "dark");
    assert.equal(await attr(other, "data-color-theme"), "green");
  });
});
