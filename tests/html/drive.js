// Opens a compiled OUT/index.html in Debian's chromium (headless, through
// playwright-core, which never downloads a browser here) and prints what the
// page shows as one JSON object on stdout. tests/html.rs runs it and asserts
// on that JSON, so the assertions live with the other Rust tests.
//
// usage: node drive.js SPEC_JSON
//   SPEC_JSON: {"page": "/abs/OUT/index.html", "shots": "/abs/dir", "name": "case",
//               "queries": ["linux", ...], "follow": "wt-name", "keystrokes": "text"}
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

async function main() {
  const spec = JSON.parse(process.argv[2]);
  const url = "file://" + spec.page;
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "amiset-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.AMISET_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
  });
  const out = { console: [], pageErrors: [], requests: [], dialogs: [] };
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(15000);
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") out.console.push(m.type() + ": " + m.text());
    });
    page.on("pageerror", (e) => out.pageErrors.push(String(e)));
    page.on("request", (r) => out.requests.push(r.url()));
    page.on("dialog", (d) => {
      out.dialogs.push(d.message());
      d.dismiss().catch(() => {});
    });

    await page.goto(url, { waitUntil: "load" });
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))));
    out.timing = await page.evaluate(() => {
      const nav = performance.getEntriesByType("navigation")[0];
      const fcp = performance.getEntriesByName("first-contentful-paint")[0];
      return {
        domContentLoaded: nav.domContentLoadedEventEnd,
        load: nav.loadEventEnd,
        firstContentfulPaint: fcp ? fcp.startTime : null,
        bytes: document.documentElement.outerHTML.length,
      };
    });
    out.initial = await state(page);
    out.page = await page.evaluate(() => ({
      title: document.title,
      scripts: document.scripts.length,
      pwned: window.__pwned === undefined ? null : window.__pwned,
      descriptions: Array.from(document.querySelectorAll(".desc")).map((e) => e.textContent),
      setLinks: Array.from(document.querySelectorAll("#workers-table a[href^='#']")).map((a) => a.getAttribute("href")),
      workerLinks: Array.from(document.querySelectorAll("#sets-table a[href^='#']")).map((a) => a.getAttribute("href")),
      brokenLinks: Array.from(document.querySelectorAll("a[href^='#']"))
        .map((a) => a.getAttribute("href"))
        .filter((h) => !document.getElementById(decodeURIComponent(h.slice(1)))),
      // Marked cells: a set's region cell, a worker type's launch spec cell.
      marked: Array.from(document.querySelectorAll("td.bad, td.warn"))
        .map((e) => ({ class: e.className, row: e.closest("tbody > tr[id]") ? e.closest("tbody > tr[id]").id : null, text: e.innerText })),
    }));
    await page.screenshot({ path: path.join(spec.shots, spec.name + "-1280.png"), fullPage: !!spec.fullPage });

    // Keyboard: Tab from the top reaches the filter first; "/" focuses it from anywhere.
    await page.keyboard.press("Tab");
    out.firstTab = await page.evaluate(() => document.activeElement.id);
    out.focusOutline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    await page.evaluate(() => document.activeElement.blur());
    await page.keyboard.press("/");
    out.slashFocus = await page.evaluate(() => document.activeElement.id);

    out.queries = [];
    for (const q of spec.queries || []) {
      await page.fill("#filter", "");
      await page.keyboard.type(q);
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))));
      out.queries.push(Object.assign({ query: q }, await state(page)));
      if (q === (spec.queries || [])[0]) {
        await page.screenshot({ path: path.join(spec.shots, spec.name + "-filtered-1280.png") });
      }
    }
    await page.keyboard.press("Escape");
    out.afterEscape = await state(page);

    if (spec.follow) {
      // Filter down to one worker type, then follow its set link and back.
      await page.fill("#filter", spec.follow);
      await page.dispatchEvent("#filter", "input");
      const wt = "#wt-" + spec.follow;
      await page.click(wt + " a[href^='#set-']");
      out.followSet = await page.evaluate(() => ({
        hash: location.hash,
        target: document.querySelector(":target") ? document.querySelector(":target").id : null,
        visible: !!document.querySelector(":target") && !document.querySelector(":target").hidden,
      }));
      // The set's row links back to the worker type.
      const back = await page.$(out.followSet.hash + " a[href='#wt-" + spec.follow + "']");
      out.backLink = !!back;
      if (back) await back.click();
      out.followBack = await page.evaluate(() => location.hash);
      // A link to a row the filter hides clears the filter.
      await page.fill("#filter", "no-such-thing-at-all");
      await page.dispatchEvent("#filter", "input");
      await page.evaluate((h) => { location.hash = h; }, out.followSet.hash);
      await page.waitForFunction(() => document.getElementById("filter").value === "");
      out.revealed = await state(page);
    }

    if (spec.keystrokes) {
      await page.fill("#filter", "");
      await page.dispatchEvent("#filter", "input");
      // Baseline: the same round trip to the next frame with nothing typed.
      out.idleFrames = [];
      for (let i = 0; i < 5; i++) {
        out.idleFrames.push(
          await page.evaluate(async () => {
            const t0 = performance.now();
            await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
            return performance.now() - t0;
          }),
        );
      }
      out.keystrokes = [];
      for (const ch of spec.keystrokes) {
        out.keystrokes.push(
          await page.evaluate(async (c) => {
            const input = document.getElementById("filter");
            const t0 = performance.now();
            input.value += c;
            input.dispatchEvent(new Event("input"));
            await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
            return performance.now() - t0;
          }, ch),
        );
      }
      out.afterKeystrokes = await state(page);
    }

    // Phone width.
    await page.fill("#filter", "");
    await page.dispatchEvent("#filter", "input");
    await page.setViewportSize({ width: 390, height: 844 });
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))));
    out.phone = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      clientWidth: document.documentElement.clientWidth,
      filterWidth: document.getElementById("filter").getBoundingClientRect().width,
    }));
    await page.screenshot({ path: path.join(spec.shots, spec.name + "-390.png"), fullPage: !!spec.fullPage });
    await page.evaluate(() => document.getElementById("workers").scrollIntoView());
    await page.screenshot({ path: path.join(spec.shots, spec.name + "-390-workers.png") });
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

// Visible rows and counts of both tables.
function state(page) {
  return page.evaluate(() => {
    const visible = (id) => Array.from(document.getElementById(id).tBodies[0].rows).filter((r) => !r.hidden && r.offsetParent !== null).map((r) => r.id);
    const text = (id) => document.getElementById(id).textContent;
    const shown = (id) => !document.getElementById(id).hidden;
    return {
      filter: document.getElementById("filter").value,
      sets: visible("sets-table"),
      workers: visible("workers-table"),
      setsCount: text("sets-count"),
      workersCount: text("workers-count"),
      setsEmpty: shown("sets-empty"),
      workersEmpty: shown("workers-empty"),
    };
  });
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + "\n");
  process.exit(1);
});
