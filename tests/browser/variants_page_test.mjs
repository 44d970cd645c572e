// Drives the web page's "Score variants" mode in headless Chromium like a person would: the
// reference list from GET /v1/models, an empty VCF and a reference the workers do not offer
// (refused at submit), a VCF with an unparsable record (the job fails naming it), then a VCF uploaded through the file input,
// scored against the worker's registered reference and again against the same FASTA uploaded
// with the job, each followed live to success. Writes what the page shows to
// OUT/variants_result.json (tests/services/service_web_page_test.cc compares it with the gRPC
// API's variants.tsv and errors) and a screenshot to OUT/variants_page.png. Exit status 0 = the
// page did everything; the comparison is the caller's.
//
//   node variants_page_test.mjs --url http://127.0.0.1:PORT/ --key KEY --vcf FILE
//        --reference-name NAME --reference-fasta FILE --out DIR [--chromium /usr/bin/chromium]
import fs from 'node:fs';
import path from 'node:path';
import { clearAndType, errorShown, launch, openPage, parseArgs, timeout, unlabelledControls } from './page_driver.mjs';

const args = parseArgs('variants_page_test', ['url', 'key', 'vcf', 'reference-name', 'reference-fasta', 'out']);
// Record 2's sample has more values than its FORMAT names: htslib refuses it.
const badVcf = '##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\n' +
  'lacZ_start\t5\t.\tC\tA\t.\t.\t.\tGT\t0/1\nlacZ_start\t6\t.\tA\tC\t.\t.\t.\tGT:DP\t0/1:x:y\n';

// Submits from the keyboard and waits until the status line names a job that ended.
async function submitAndWaitForEnd(page, previousStatus) {
  await page.focus('#submit');
  await page.keyboard.press('Enter');
  await page.waitForFunction((old) => {
    const s = document.getElementById('status').textContent;
    return s !== old && /: (succeeded|failed|cancelled) /.test(s);
  }, { timeout }, previousStatus);
  return page.$eval('#status', (e) => e.textContent);
}

// The table as the page shows it: header names, and per row each cell's TSV text (data-value).
async function readTable(page) {
  return page.evaluate(() => ({
    header: [...document.querySelectorAll('#variant-results thead th')].map((th) => th.textContent),
    rows: [...document.querySelectorAll('#variant-results tbody tr')].map((tr) =>
      [...tr.querySelectorAll('td')].map((td) => td.dataset.value)),
  }));
}

const browser = await launch(args.chromium);
const result = {};
try {
  const { page, pageErrors } = await openPage(browser, args.url);

  // The key, then the mode switch from the keyboard: the reference list comes from the API.
  await clearAndType(page, '#api-key', args.key);
  await page.focus('#mode-variants');
  await page.keyboard.press('Space');
  result.variant_inputs_hidden = await page.$eval('#variant-inputs', (e) => e.hidden);
  await page.waitForFunction((name) => [...document.getElementById('reference').options].some((o) => o.value === name),
    { timeout }, args['reference-name']);
  result.references = await page.$$eval('#reference option', (os) => os.map((o) => o.value));
  result.window_default = await page.$eval('#window-bases', (e) => e.value);
  result.batch_default = await page.$eval('#batch-windows', (e) => e.value);
  result.unlabelled = await unlabelledControls(page);

  // 1. An empty VCF: refused at submit, the API's message shown.
  await page.select('#reference', args['reference-name']);
  await page.$eval('#vcf', (e) => { e.value = ''; });
  await page.click('#submit');
  result.empty_vcf_error = await errorShown(page);

  // 2. A reference the workers no longer offer (a list older than the registry, simulated by
  // an extra option): the API's refusal naming the registered ones.
  await page.$eval('#reference', (e) => e.add(new Option('hg99', 'hg99')));
  await page.select('#reference', 'hg99');
  await page.$eval('#vcf', (e, text) => { e.value = text; e.dispatchEvent(new Event('input')); }, badVcf);
  await page.click('#submit');
  result.unknown_reference_error = await errorShown(page, result.empty_vcf_error);
  await page.select('#reference', args['reference-name']);

  // 3. A record htslib cannot parse: the job fails, the page shows the job's error.
  result.bad_vcf_status = await submitAndWaitForEnd(page, await page.$eval('#status', (e) => e.textContent));
  result.bad_vcf_error = await errorShown(page, result.unknown_reference_error);
  result.bad_vcf_job_id = (result.bad_vcf_status.match(/[0-9a-f]{32}/) || [''])[0];

  // 4. The example VCF through the file input, against the registered reference.
  await page.$eval('#vcf', (e) => { e.value = ''; });
  await (await page.$('#vcf-file')).uploadFile(path.resolve(args.vcf));
  await page.waitForFunction(() => document.getElementById('vcf').value.startsWith('##fileformat'), { timeout });
  result.status = await submitAndWaitForEnd(page, result.bad_vcf_status);
  await page.waitForFunction(() => document.querySelectorAll('#variant-results tbody tr').length > 0 &&
    document.querySelector('#delta-plot svg circle'), { timeout });
  result.error_hidden = await page.$eval('#error', (e) => e.hidden);
  result.job_id = (result.status.match(/[0-9a-f]{32}/) || [''])[0];
  result.table = await readTable(page);
  result.downloads = await page.$$eval('#variant-downloads a', (as) => as.map((a) => a.download));
  // The TSV link's bytes, as a person's download would save them.
  result.tsv_download = await page.evaluate(async () => {
    const a = [...document.querySelectorAll('#variant-downloads a')].find((x) => x.download.endsWith('variants.tsv'));
    return a ? (await fetch(a.href)).text() : '';
  });
  result.contigs = await page.$$eval('#delta-contig option', (os) => os.map((o) => o.value));
  result.plot_dots = await page.$$eval('#delta-plot svg circle', (cs) => cs.map((c) => c.querySelector('title').textContent));
  result.plot_label = await page.$eval('#delta-plot', (e) => e.getAttribute('aria-label'));
  fs.mkdirSync(args.out, { recursive: true });
  await page.screenshot({ path: path.join(args.out, 'variants_page.png'), fullPage: true });

  // Sorting by delta from the keyboard: ascending, then descending; unscored alleles last.
  const deltaColumn = result.table.header.indexOf('delta');
  const deltaButton = (await page.$$('#variant-results thead th button'))[deltaColumn];
  await deltaButton.focus();
  await page.keyboard.press('Enter');
  result.sorted_ascending = (await readTable(page)).rows.map((r) => r[deltaColumn]);
  result.aria_sort = await page.$$eval('#variant-results thead th', (ths, i) => ths[i].getAttribute('aria-sort'), deltaColumn);
  await page.keyboard.press('Enter');
  result.sorted_descending = (await readTable(page)).rows.map((r) => r[deltaColumn]);

  // 5. The same VCF against the reference FASTA uploaded with the job.
  await page.select('#reference', '');
  await (await page.$('#reference-file')).uploadFile(path.resolve(args['reference-fasta']));
  result.uploaded_status = await submitAndWaitForEnd(page, result.status);
  await page.waitForFunction(() => document.querySelectorAll('#variant-results tbody tr').length > 0, { timeout });
  result.uploaded_table = await readTable(page);
  result.page_errors = pageErrors;
} finally {
  await browser.close();
}
fs.writeFileSync(path.join(args.out, 'variants_result.json'), JSON.stringify(result, null, 1));
console.log('variants_page_test: wrote', path.join(args.out, 'variants_result.json'));
