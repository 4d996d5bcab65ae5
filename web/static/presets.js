// Presets and batches in the studio (issue 25): the create page's preset picker (fills the form
// from /api/v1/presets) and its "Save as preset"; the batch page (a CSV or JSON file of scripts,
// a preset, the whole quote from /api/v1/batches/quote, then POST /api/v1/batches); and a
// batch's progress page, polling GET /api/v1/batches/{id}. Uses app.js's helpers (api, el,
// showError, readSpec, fillSpec); every text is set with textContent.
'use strict';

(() => {
  const q = (sel) => document.querySelector(sel);
  const ENDED = ['succeeded', 'failed', 'cancelled'];
  const POLL_MS = 3000;

  async function presets() {
    try { return await api('GET', '/presets'); } catch { return []; }
  }

  function fillPicker(select, list) {
    const own = list.filter((p) => !p.read_only);
    const templates = list.filter((p) => p.read_only);
    const group = (label, items) => el('optgroup', { label },
      ...items.map((p) => el('option', { value: p.id, text: p.name, title: p.description || undefined })));
    const keep = select.value;
    select.replaceChildren(select.options[0], ...(own.length ? [group('Yours', own)] : []),
      ...(templates.length ? [group('Templates', templates)] : []));
    if ([...select.options].some((o) => o.value === keep)) select.value = keep;
  }

  // ---- The create page ----

  /** The form's settings that a preset holds: everything but the script. */
  function formSettings(form) {
    const spec = readSpec(form);
    delete spec.script;
    const music = q('#music');
    if (music && music.value.startsWith('library:')) {
      spec.music = music.value;
      spec.music_level = Number(q('#music-level').value);
    }
    for (const [k, v] of Object.entries(spec)) if (v === null || v === undefined || v === '') delete spec[k];
    return spec;
  }

  async function setupCreate() {
    const form = q('#create-form');
    const select = q('#preset');
    if (!form || !select) return;
    const status = q('#preset-status');
    let list = await presets();
    fillPicker(select, list);
    select.addEventListener('change', () => {
      const preset = list.find((p) => p.id === select.value);
      if (!preset) return;
      const s = preset.settings || {};
      fillSpec(form, { ...s, script: q('#script', form).value });
      const music = q('#music');
      if (music && s.music && [...music.options].some((o) => o.value === s.music)) music.value = s.music;
      if (s.music_level !== undefined && q('#music-level')) q('#music-level').value = s.music_level;
      // The sliders' read-outs, the estimate and the quote follow the form's own input events.
      for (const id of ['#rate', '#pitch', '#music-level']) {
        const node = q(id);
        if (node) node.dispatchEvent(new Event('input', { bubbles: true }));
      }
      status.textContent = `Settings of “${preset.name}” applied. Anything you change now applies to this video only.`;
    });
    q('#preset-save').addEventListener('click', async () => {
      const name = q('#preset-name').value.trim();
      if (!name) { status.textContent = 'Give the preset a name first.'; q('#preset-name').focus(); return; }
      try {
        const made = await api('POST', '/presets', { name, settings: formSettings(form) });
        list = await presets();
        fillPicker(select, list);
        select.value = made.id;
        status.textContent = `Saved as “${made.name}”.`;
      } catch (err) {
        status.textContent = err.message;
      }
    });
  }

  // ---- The batch page ----

  /** RFC 4180 CSV: quoted fields may hold commas, line breaks and doubled quotes. */
  function parseCsv(text) {
    const rows = [];
    let row = [];
    let field = '';
    let quoted = false;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (quoted) {
        if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false;
        else field += c;
      } else if (c === '"') quoted = true;
      else if (c === ',') { row.push(field); field = ''; } else if (c === '\n' || c === '\r') {
        if (c === '\r' && text[i + 1] === '\n') i++;
        row.push(field); field = '';
        if (row.some((f) => f.trim())) rows.push(row);
        row = [];
      } else field += c;
    }
    row.push(field);
    if (row.some((f) => f.trim())) rows.push(row);
    return rows;
  }

  /** The file's scripts as [{title?, script}], or an Error naming what is wrong. */
  function readScripts(name, text) {
    text = text.replace(/^\uFEFF/, '');
    if (/\.json$/i.test(name) || /^\s*[[{]/.test(text)) {
      let data;
      try { data = JSON.parse(text); } catch (e) { throw new Error(`The JSON file cannot be read: ${e.message}`); }
      if (!Array.isArray(data)) data = data && data.scripts;
      if (!Array.isArray(data)) throw new Error('The JSON file must be a list of {"title", "script"} objects.');
      return data.map((item, i) => {
        const script = typeof item === 'string' ? item : item && item.script;
        if (typeof script !== 'string') throw new Error(`Item ${i + 1} of the JSON file has no "script".`);
        const title = item && typeof item.title === 'string' && item.title.trim() ? item.title : undefined;
        return { title, script };
      });
    }
    const rows = parseCsv(text);
    if (!rows.length) throw new Error('The file is empty.');
    const header = rows[0].map((h) => h.trim().toLowerCase());
    const at = header.indexOf('script');
    if (at < 0) throw new Error('The CSV file needs a header row with a "script" column (and optionally "title").');
    const titleAt = header.indexOf('title');
    return rows.slice(1).map((r) => {
      const title = titleAt >= 0 && r[titleAt] && r[titleAt].trim() ? r[titleAt] : undefined;
      return { title, script: r[at] || '' };
    });
  }

  async function setupBatchForm() {
    const form = q('#batch-form');
    const select = q('#batch-preset');
    const submit = q('#batch-submit');
    const summary = q('#batch-summary');
    let scripts = [];
    fillPicker(select, await presets());
    const body = () => ({ preset: select.value || undefined, scripts });

    async function quote() {
      submit.disabled = true;
      showError(null);
      q('#batch-count').textContent = String(scripts.length);
      if (!scripts.length) { q('#batch-cost').textContent = '…'; return; }
      try {
        const qv = await api('POST', '/batches/quote', body());
        q('#batch-cost').textContent = qv.credits ? `${qv.credits} credits in all` : 'Free: the studio engine runs on this server';
        q('#batch-balance').textContent = `${qv.balance} credits`;
        if (!qv.affordable) showError(new Error(`Your balance (${qv.balance} credits) does not cover the ${qv.credits} credits of the whole batch.`));
        else if (qv.consent_missing) showError(new Error('This engine needs your consent first: give it on the AI providers page.'));
        else submit.disabled = false;
      } catch (err) {
        q('#batch-cost').textContent = '…';
        showError(err);
      }
    }

    q('#batch-file').addEventListener('change', async (e) => {
      const file = e.target.files[0];
      scripts = [];
      q('#batch-scripts').replaceChildren();
      if (!file) { summary.textContent = ''; return quote(); }
      try {
        scripts = readScripts(file.name, await file.text());
        summary.textContent = `${scripts.length} script${scripts.length === 1 ? '' : 's'} in ${file.name}.`;
        q('#batch-scripts').replaceChildren(...scripts.map((s) => el('li', {},
          el('strong', { text: s.title || s.script.trim().split(/\s+/).slice(0, 6).join(' ') }),
          el('span', { class: 'meta', text: ` · ${s.script.trim().split(/\s+/).filter(Boolean).length} words` }))));
      } catch (err) {
        summary.textContent = '';
        showError(err);
      }
      quote();
    });
    select.addEventListener('change', quote);
    // One key per batch as chosen: a retry after a lost answer (or a second click) gets the
    // first batch back instead of queuing and charging it twice; a change makes a new batch.
    let batchKey = null;
    let keyedBody = '';
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      submit.disabled = true;
      try {
        const request = body();
        if (JSON.stringify(request) !== keyedBody) {
          keyedBody = JSON.stringify(request);
          // randomUUID exists only in secure contexts (not plain http on a LAN address).
          batchKey = (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random();
        }
        const batch = await api('POST', '/batches', request, { 'Idempotency-Key': batchKey });
        location.assign(`/batches/${encodeURIComponent(batch.id)}`);
      } catch (err) {
        showError(err);
        submit.disabled = false;
      }
    });

    const list = q('#batch-list');
    try {
      const batches = await api('GET', '/batches');
      list.replaceChildren(...batches.map((b) => el('li', {},
        el('a', { href: `/batches/${encodeURIComponent(b.id)}`, text: `${b.jobs.length} videos, ${new Date(b.created_at).toLocaleString()}` }),
        el('span', { class: 'meta', text: ' · ' + countsText(b.counts) }))));
      if (!batches.length) list.replaceChildren(el('li', { class: 'meta', text: 'None yet.' }));
    } catch (err) { showError(err); }
  }

  function countsText(counts) {
    return Object.entries(counts).map(([state, n]) => `${n} ${state}`).join(', ') || 'no jobs left';
  }

  // ---- A batch's progress ----

  async function setupBatch() {
    const section = q('#batch');
    const path = `/batches/${encodeURIComponent(section.dataset.id)}`;
    const jobs = q('#batch-jobs');
    async function refresh() {
      let batch;
      try { batch = await api('GET', path); } catch (err) { showError(err); return; }
      section.setAttribute('aria-busy', 'false');
      q('#batch-counts').textContent = `${batch.jobs.length} videos: ${countsText(batch.counts)}.`;
      q('#batch-progress').value = batch.progress;
      jobs.replaceChildren(...batch.jobs.map((j) => el('li', { 'data-status': j.status },
        el('a', { href: `/creations/${encodeURIComponent(j.id)}`, text: j.title }),
        el('span', { class: 'meta', text: ` · ${j.status}${j.status === 'running' ? ` ${Math.round(j.progress * 100)} %` : ''}` }))));
      if (batch.jobs.some((j) => !ENDED.includes(j.status))) setTimeout(refresh, POLL_MS);
    }
    refresh();
  }

  document.addEventListener('DOMContentLoaded', () => {
    if (q('#preset-bar')) setupCreate();
    if (q('#batch-form')) setupBatchForm();
    if (q('#batch')) setupBatch();
  });
})();
