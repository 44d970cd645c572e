// What the browser tests share: their command line, Debian's headless Chromium through
// puppeteer-core, and the moves a person makes on the page.
import puppeteer from 'puppeteer-core';

export const timeout = 60000;

// --name value pairs; exits 2 naming the first missing required one.
export function parseArgs(script, required) {
  const args = {};
  for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
  for (const need of required) {
    if (!args[need]) { console.error(`${script}: --${need} is required`); process.exit(2); }
  }
  return args;
}

export async function launch(chromium) {
  return puppeteer.launch({
    executablePath: chromium || '/usr/bin/chromium',
    headless: true,
    // --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

// A page at `url` that records uncaught page errors into the returned array.
export async function openPage(browser, url) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1100, height: 1400 });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.goto(url, { waitUntil: 'load' });
  return { page, pageErrors };
}

// Ids of visible form controls that have no label (every control must have one).
export async function unlabelledControls(page) {
  return page.$$eval('input, select, textarea', (els) =>
    els.filter((e) => e.type !== 'hidden' && (!e.labels || e.labels.length === 0) && !e.getAttribute('aria-label')).map((e) => e.id));
}

// Waits until the error box shows a message other than `previous` and returns it.
export async function errorShown(page, previous = null) {
  await page.waitForFunction((old) => !document.getElementById('error').hidden &&
    document.getElementById('error').textContent !== old, { timeout }, previous);
  return page.$eval('#error', (e) => e.textContent);
}

export async function clearAndType(page, selector, text) {
  await page.$eval(selector, (e) => { e.value = ''; });
  await page.type(selector, text);
}
