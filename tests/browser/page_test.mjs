// Drives evo2-api's web page in headless Chromium (Debian's, through puppeteer-core) like a
// person would: error paths first (a wrong API key, a bad FASTA), then examples/example.fa
// uploaded through the file input, followed live to success. Writes what the page shows to
// OUT/page_result.json (tests/services/service_web_page_test.cc compares it with the gRPC API) and a screenshot
// to OUT/page.png. Exit status 0 = the page did everything; the comparison is the caller's.
//
//   node page_test.mjs --url http://127.0.0.1:PORT/ --key KEY --fasta FILE --out DIR
//                      [--chromium /usr/bin/chromium]
import fs from 'node:fs';
import path from 'node:path';
import { clearAndType, errorShown, launch, openPage, parseArgs, timeout, unlabelledControls } from './page_driver.mjs';

const args = parseArgs('page_test', ['url', 'key', 'fasta', 'out']);
const browser = await launch(args.chromium);
const result = {};
try {
  const { page, pageErrors: consoleErrors } = await openPage(browser, args.url);

  // Accessibility basics: every form control has a label, the first Tab reaches the key field.
  result.unlabelled = await unlabelledControls(page);
  await page.keyboard.press('Tab');
  result.first_focus = await page.evaluate(() => document.activeElement.id);

  // 1. A wrong key: the API's UNAUTHENTICATED message appears.
  await clearAndType(page, '#api-key', 'not-a-key-0123456789');
  await clearAndType(page, '#fasta', '>x\nACGT\n');
  await page.click('#submit');
  result.bad_key_error = await errorShown(page);

  // 2. A bad FASTA with the right key, submitted from the keyboard: the API's INVALID_ARGUMENT.
  await clearAndType(page, '#api-key', args.key);
  await clearAndType(page, '#fasta', '>ok\nACGT\n>broken\nACGTQACGT\n');
  await page.focus('#submit');
  await page.keyboard.press('Enter');
  result.bad_fasta_error = await errorShown(page, result.bad_key_error);

  // 3. examples/example.fa through the file input, followed to success.
  await page.$eval('#fasta', (e) => { e.value = ''; });
  const input = await page.$('#fasta-file');
  await input.uploadFile(path.resolve(args.fasta));
  await page.waitForFunction(() => document.getElementById('fasta').value.startsWith('>'), { timeout });
  await page.click('#submit');
  await page.waitForFunction(() => document.querySelectorAll('#results tbody tr').length > 0 &&
    document.querySelector('#plot svg polyline'), { timeout });
  result.status = await page.$eval('#status', (e) => e.textContent);
  result.error_hidden = await page.$eval('#error', (e) => e.hidden);
  result.job_id = (result.status.match(/[0-9a-f]{32}/) || [''])[0];
  result.rows = await page.$$eval('#results tbody tr', (trs) => trs.map((tr) => {
    const td = tr.querySelectorAll('td');
    return { index: Number(td[0].textContent), name: td[1].textContent, num_tokens: td[2].dataset.value,
      log_prob_sum: td[3].dataset.value, log_prob_mean: td[4].dataset.value, shown_sum: td[3].textContent };
  }));
  result.plot_points = await page.$eval('#plot svg polyline', (p) => p.getAttribute('points').trim().split(/\s+/).length);
  result.plot_label = await page.$eval('#plot', (e) => e.getAttribute('aria-label'));
  fs.mkdirSync(args.out, { recursive: true });
  await page.screenshot({ path: path.join(args.out, 'page.png'), fullPage: true });
  // Zoom in with the keyboard-reachable button: the window halves.
  const width0 = Number(await page.$eval('#plot-width', (e) => e.value));
  await page.click('#zoom-in');
  result.plot_zoom = [width0, Number(await page.$eval('#plot-width', (e) => e.value))];
  result.page_errors = consoleErrors;
} finally {
  await browser.close();
}
fs.writeFileSync(path.join(args.out, 'page_result.json'), JSON.stringify(result, null, 1));
console.log('page_test: wrote', path.join(args.out, 'page_result.json'));
