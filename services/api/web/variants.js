// Evo2 Serve web page, variant-scoring jobs (docs/variant-scoring.md §6): the form's VCF and
// reference choices, the results table of variants.tsv and the delta plot. Loaded after app.js,
// whose functions (api, cell, plotFrame, valueRange, base64 codecs) and `state` it uses.
'use strict';

// A VariantScoringInput (inputs.proto). The VCF and an uploaded reference go as bytes: the
// worker's engine (htslib) parses them and names the record it cannot read. Empty number fields
// are left out, so the API's defaults apply.
async function variantsRequest() {
  const variants = {
    vcf: state.vcfUpload ? base64OfBytes(state.vcfUpload) : base64OfText($('vcf').value)
  };
  if ($('reference').value) {
    variants.referenceName = $('reference').value;
  } else {
    const file = $('reference-file').files[0];
    const bytes = file ? new Uint8Array(await file.arrayBuffer()) : new Uint8Array(0);
    variants.referenceFasta = base64OfBytes(bytes);
  }
  if ($('window-bases').value) variants.windowBases = $('window-bases').value;
  if ($('batch-windows').value) variants.batchWindows = Number($('batch-windows').value);
  variants.bothStrands = $('both-strands').checked;
  return {model: $('model').value.trim(), variants};
}

function mode() {
  return $('mode-variants').checked ? 'variants' : 'fasta';
}

function setMode() {
  const variants = mode() === 'variants';
  $('fasta-inputs').hidden = variants;
  $('variant-inputs').hidden = !variants;
  $('fasta').required = !variants;  // a hidden required field would block the submit
  $('variant-section').hidden = !variants;
  $('record-section').hidden = variants;
  $('plot-section').hidden = variants;
  if (variants && !state.catalog && $('api-key').value.trim()) loadCatalog();
}

// GET /v1/models: the served models (the model field's suggestions), the references their
// workers registered and the API's defaults for the window options. The page offers only what
// the API says; an upload is always possible.
async function loadCatalog() {
  try {
    state.catalog = await (await api('/v1/models')).json();
  } catch (err) {
    showError(err.message);
    return;
  }
  $('models').replaceChildren(...state.catalog.models.map((m) => new Option(m.name, m.name)));
  fillReferences();
}

function fillReferences() {
  if (!state.catalog) return;
  const model = state.catalog.models.find((m) => m.name === $('model').value.trim());
  const select = $('reference');
  const previous = select.value;
  const options = ((model && model.references) || []).map((r) => new Option(r, r));
  options.push(new Option('Upload a reference FASTA (below)', ''));
  select.replaceChildren(...options);
  if ([...select.options].some((o) => o.value === previous)) select.value = previous;
  $('reference-file').disabled = select.value !== '';
  const d = state.catalog.variantDefaults || {};
  const maxTokens = Number((model && model.maxRecordTokens) || d.windowBases);
  $('window-bases').min = d.minWindowBases;
  $('window-bases').max = maxTokens;
  $('window-bases').value = Math.min(Number(d.windowBases), maxTokens);
  $('batch-windows').max = d.maxBatchWindows;
  $('batch-windows').value = d.batchWindows;
}

function clearVariantResults() {
  state.variantRows = [];
  state.sort = {column: -1, descending: false};
  for (const url of state.downloadUrls) URL.revokeObjectURL(url);
  state.downloadUrls = [];
  $('variant-results').tHead.rows[0].replaceChildren();
  $('variant-results').tBodies[0].replaceChildren();
  $('variant-downloads').replaceChildren();
  $('delta-contig').replaceChildren();
  $('delta-contig').disabled = true;
  $('delta-plot').replaceChildren();
  $('delta-plot').setAttribute('aria-label', 'No plot yet');
}

// variants.tsv (docs/variant-scoring.md §4) → rows of fields, header first.
function parseTsv(text) {
  return text.split('\n').filter((line) => line.length > 0).map((line) => line.split('\t'));
}

function fillVariantResults(jobId, record) {
  const files = (record && record.files) || [];
  const links = $('variant-downloads');
  for (const f of files) {
    const bytes = bytesOfBase64(f.data);
    const url = URL.createObjectURL(new Blob([bytes], {type: f.mediaType}));
    state.downloadUrls.push(url);
    const a = document.createElement('a');
    a.href = url;
    a.download = jobId + '_' + f.name;
    a.textContent = 'Download ' + f.name;
    links.append(a);
    if (f.name === 'variants.tsv') state.variantRows = parseTsv(new TextDecoder().decode(bytes));
  }
  if (state.variantRows.length === 0) {
    showError('the job succeeded but returned no variants.tsv');
    return;
  }
  const head = $('variant-results').tHead.rows[0];
  state.variantRows[0].forEach((name, column) => {
    const th = document.createElement('th');
    th.scope = 'col';
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = name;
    b.addEventListener('click', () => sortVariants(column));
    th.append(b);
    head.append(th);
  });
  renderVariantRows();
  const contigs = [...new Set(state.variantRows.slice(1).map((r) => r[0]))];
  $('delta-contig').replaceChildren(...contigs.map((c) => new Option(c, c)));
  $('delta-contig').disabled = contigs.length === 0;
  drawDeltaPlot();
}

// Cells keep the TSV's text in data-value (numbers as printed, %.17g) beside what is shown.
function renderVariantRows() {
  const header = state.variantRows[0];
  const body = $('variant-results').tBodies[0];
  body.replaceChildren(...state.variantRows.slice(1).map((row) => {
    const tr = document.createElement('tr');
    row.forEach((field, column) => {
      const number = /_ll$|^delta$/.test(header[column]) && field !== '.';
      tr.append(cell(number ? Number(field).toFixed(4) : field, number ? 'num' : '', field));
    });
    return tr;
  }));
}

// Numbers sort as numbers, '.' (an allele not scored) last either way; ties keep file order.
function sortVariants(column) {
  const s = state.sort;
  s.descending = s.column === column ? !s.descending : false;
  s.column = column;
  const rows = state.variantRows.slice(1);
  const numeric = rows.every((r) => r[column] === '.' || !isNaN(Number(r[column])));
  const key = (r) => (numeric ? Number(r[column]) : r[column]);
  rows.sort((a, b) => {
    if ((a[column] === '.') !== (b[column] === '.')) return a[column] === '.' ? 1 : -1;
    const ka = key(a), kb = key(b);
    const c = ka < kb ? -1 : ka > kb ? 1 : 0;
    return s.descending ? -c : c;
  });
  state.variantRows = [state.variantRows[0], ...rows];
  [...$('variant-results').tHead.rows[0].cells].forEach((th, i) => {
    if (i === column)
      th.setAttribute('aria-sort', s.descending ? 'descending' : 'ascending');
    else
      th.removeAttribute('aria-sort');
  });
  renderVariantRows();
}

// Deltas of one contig's scored alleles at their VCF positions, as dots on the shared frame
// with a dashed line at 0; each dot's <title> names the allele.
function drawDeltaPlot() {
  const [header, ...rows] = state.variantRows;
  const col = (name) => header.indexOf(name);
  const contig = $('delta-contig').value;
  const points = rows.filter((r) => r[col('chrom')] === contig && r[col('delta')] !== '.')
                     .map((r) => ({pos: Number(r[col('pos')]), delta: Number(r[col('delta')]), r}));
  if (points.length === 0) {
    $('delta-plot').replaceChildren();
    $('delta-plot').setAttribute('aria-label', 'No scored alleles on ' + contig);
    return;
  }
  // Margins of 5 % around the data, so no dot sits on an axis.
  const [lo0, hi0] = valueRange([0, ...points.map((p) => p.delta)]);
  const [lo, hi] = [lo0 - 0.05 * (hi0 - lo0), hi0 + 0.05 * (hi0 - lo0)];
  const first = Math.min(...points.map((p) => p.pos)), last = Math.max(...points.map((p) => p.pos));
  const pad = Math.max(1, Math.round(0.05 * (last - first)));
  const [from, to] = [Math.max(0, first - pad), last + pad];
  const f = plotFrame({
    xFrom: from,
    xTo: to,
    xFirst: String(from),
    xLast: String(to),
    xTitle: 'position on ' + contig + ' (VCF POS)',
    lo,
    hi
  });
  f.add('line', {class: 'zero', x1: f.x(from), y1: f.y(0), x2: f.x(to), y2: f.y(0)});
  f.add('text', {x: f.x(from) - 4, y: f.y(0) + 4, 'text-anchor': 'end'}, '0');
  for (const p of points) {
    const dot = f.add(
        'circle', {class: 'dot', cx: f.x(p.pos).toFixed(1), cy: f.y(p.delta).toFixed(1), r: 4});
    const [ref, alt] = [p.r[col('ref')], p.r[col('alt')]];
    f.add('title', {}, `${contig}:${p.pos} ${ref}>${alt} delta ${p.delta.toFixed(4)}`, dot);
  }
  $('delta-plot').replaceChildren(f.svg);
  $('delta-plot')
      .setAttribute(
          'aria-label',
          `Delta log-likelihoods of ${points.length} scored alleles on ${contig}, positions ${
              first} to ${last}, deltas from ${
              Math.min(...points.map((p) => p.delta)).toFixed(2)} to ${
              Math.max(...points.map((p) => p.delta)).toFixed(2)}`);
}

for (const radio of document.querySelectorAll('input[name=mode]'))
  radio.addEventListener('change', setMode);
$('api-key').addEventListener('change', () => {
  state.catalog = null;
  if (mode() === 'variants') loadCatalog();
});
$('load-references').addEventListener('click', loadCatalog);
$('model').addEventListener('change', fillReferences);
$('reference').addEventListener('change', () => {
  $('reference-file').disabled = $('reference').value !== '';
});
// A compressed VCF or a BCF is sent as uploaded; a text VCF lands in the text area to be read.
$('vcf-file').addEventListener('change', async (e) => {
  const f = e.target.files[0];
  if (!f) return;
  const bytes = new Uint8Array(await f.arrayBuffer());
  const binary = (bytes[0] === 0x1f && bytes[1] === 0x8b) ||
      new TextDecoder().decode(bytes.subarray(0, 3)) === 'BCF';
  state.vcfUpload = binary ? bytes : null;
  $('vcf').value = binary ? '' : new TextDecoder().decode(bytes);
  $('vcf').placeholder = binary ? f.name + ' (' + bytes.length + ' bytes, sent as uploaded)' : '';
});
$('vcf').addEventListener('input', () => {
  state.vcfUpload = null;
});
$('delta-contig').addEventListener('change', drawDeltaPlot);
setMode();
$('plot-start').addEventListener('change', () => {
  state.start = Number($('plot-start').value);
  drawPlot();
});
$('plot-width').addEventListener('change', () => {
  state.width = Number($('plot-width').value);
  drawPlot();
});
$('zoom-in').addEventListener('click', () => zoom(0.5));
$('zoom-out').addEventListener('click', () => zoom(2));
