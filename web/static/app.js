// Reelsmith studio: a little hand-written script that drives the REST API (/api/v1) with fetch
// and EventSource. No framework, no build step. Each page's <body data-page> picks its setup.
'use strict';

// The server's error codes by name (/static/errors.js, generated from the catalogue, loaded
// first): code strings are never copied here, so a renamed or misspelt one fails loudly.
const E = window.ERROR_CODES;

const $ = (sel, root = document) => root.querySelector(sel);

/** Calls the API; resolves to the parsed JSON (or null), rejects with an Error carrying `code`. */
async function api(method, path, body, extra = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json', ...extra } };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch('/api/v1' + path, init);
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    // Only a missing or ended session goes to sign in; a wrong password answers 401 too.
    if (res.status === 401 && !path.startsWith('/auth/') && (!data || !data.code || data.code === E.AUTH_REQUIRED)) {
      location.assign('/signin?next=' + encodeURIComponent(location.pathname));
    }
    const err = new Error(sentence((data && data.detail) || `the server answered ${res.status}`));
    err.code = data && data.code;
    err.status = res.status;
    throw err;
  }
  return data;
}

/** The server's details are clauses ("the code is wrong"): shown as sentences. */
function sentence(text) {
  const t = String(text).trim();
  if (!t) return t;
  const first = t[0].toLocaleUpperCase() + t.slice(1);
  return /[.!?…]$/.test(first) ? first : first + '.';
}

function showError(err, box = $('#form-error')) {
  if (!box) return;
  if (!err) { box.hidden = true; box.textContent = ''; return; }
  box.textContent = err.message || String(err);
  box.hidden = false;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') node.textContent = v;
    else if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

function fmtDate(s) {
  if (!s) return '';
  const d = new Date(s);
  return isNaN(d) ? s : d.toLocaleString();
}

function fmtSeconds(s) {
  s = Math.max(0, Math.round(s));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

function params() { return new URLSearchParams(location.search); }

/** `raw` as a path on this site, read the way the browser will read it (tabs and line breaks
 *  dropped, ends trimmed, `\` as `/`), or null when it would leave the site. */
function sameOriginPath(raw) {
  if (!raw) return null;
  const path = raw.replace(/[\t\n\r]/g, '').replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, '').replace(/\\/g, '/');
  if (!path.startsWith('/') || path.startsWith('//') || /[\u0000-\u001f\u007f]/.test(path)) return null;
  return new URL(path, location.origin).origin === location.origin ? path : null;
}

/** Where to go after signing in: the server-checked `next` (data-next), checked again, or the
 *  default. */
function safeNext(fallback) {
  const form = $('#signin-form');
  return sameOriginPath(form && form.dataset.next) || fallback;
}

/** Wires a form: disables its submit button while `handler` runs, and shows errors in the form's
 *  own alert (a `[role=alert]` inside it) or else the page's `#form-error`. A string that
 *  `handler` resolves to goes to the form's `[role=status]`. `opts.fields` maps an API error code
 *  to the name of the control it is about (marked invalid and focused); `opts.messages` maps an
 *  error code to the message to show instead of the server's detail. */
function onSubmit(form, handler, opts = {}) {
  if (!form) return;
  const errorBox = form.querySelector('[role=alert]') || $('#form-error');
  const statusBox = form.querySelector('[role=status]');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showError(null, errorBox);
    if (statusBox) statusBox.textContent = '';
    for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
    if (!form.checkValidity()) {
      const bad = form.querySelector(':invalid');
      showError(new Error(`Please fill in “${(bad && bad.labels && bad.labels[0] && bad.labels[0].textContent.trim()) || 'every field'}” correctly.`), errorBox);
      if (bad) { bad.setAttribute('aria-invalid', 'true'); bad.focus(); }
      return;
    }
    const button = form.querySelector('button[type=submit]');
    if (button) button.disabled = true;
    try {
      const done = await handler(new FormData(form));
      if (statusBox && typeof done === 'string') statusBox.textContent = done;
    } catch (err) {
      const message = opts.messages && opts.messages[err.code];
      showError(message ? new Error(message) : err, errorBox);
      const name = opts.fields && opts.fields[err.code];
      const control = name && form.elements.namedItem(name);
      if (control) { control.setAttribute('aria-invalid', 'true'); control.focus(); }
    } finally { if (button) button.disabled = false; }
  });
}

// ---- sign up, verify, sign in, password reset ----

function setupSignup() {
  onSubmit($('#signup-form'), async (f) => {
    const email = f.get('email');
    await api('POST', '/auth/signup', {
      email, username: f.get('username'), password: f.get('password'),
      age_confirmed: $('#age').checked,
    });
    location.assign('/verify?email=' + encodeURIComponent(email));
  });
}

function setupVerify() {
  const email = params().get('email');
  if (email) { $('#email').value = email; $('#code').focus(); }
  // Verifying signs the person in (the server sets the session cookie).
  onSubmit($('#verify-form'), async (f) => {
    await api('POST', '/auth/verify', { email: f.get('email'), code: f.get('code') });
    location.assign('/create?welcome=1');
  }, { fields: { [E.AUTH_CODE_INVALID]: 'code', [E.AUTH_CODE_EXPIRED]: 'code', [E.AUTH_CODE_ATTEMPTS_EXHAUSTED]: 'code' } });
  onSubmit($('#resend-form'), async () => {
    const address = $('#email').value.trim();
    if (!address) {
      $('#email').setAttribute('aria-invalid', 'true');
      $('#email').focus();
      throw new Error('Enter your email address above first.');
    }
    await api('POST', '/auth/verify/resend', { email: address });
    $('#code').value = '';
    $('#code').focus();
    return `A new code is on its way to ${address}, if it waits for one. The earlier code no longer works.`;
  });
}

function setupSignin() {
  const p = params();
  if (p.get('email')) $('#email').value = p.get('email');
  const notice = $('#form-notice');
  if (p.get('verified')) { notice.textContent = 'Your email address is confirmed. Sign in to start.'; notice.hidden = false; }
  if (p.get('deleted')) { notice.textContent = `Your account is deleted. Everything it held is erased by ${fmtDate(p.get('deleted'))}; a confirmation is on its way by email.`; notice.hidden = false; }
  if (p.get('reset')) { notice.textContent = 'Your password is changed. Sign in with the new one.'; notice.hidden = false; }
  if (p.get('email')) $('#password').focus();
  onSubmit($('#signin-form'), async (f) => {
    await api('POST', '/auth/login', { email: f.get('email'), password: f.get('password') });
    location.assign(safeNext('/create'));
  });
}

function setupForgot() {
  onSubmit($('#forgot-form'), async (f) => {
    await api('POST', '/auth/password/forgot', { email: f.get('email') });
    location.assign('/reset?email=' + encodeURIComponent(f.get('email')));
  });
}

function setupReset() {
  if (params().get('email')) $('#email').value = params().get('email');
  onSubmit($('#reset-form'), async (f) => {
    await api('POST', '/auth/password/reset', {
      email: f.get('email'), code: f.get('code'), new_password: f.get('new_password'),
    });
    location.assign('/signin?reset=1&email=' + encodeURIComponent(f.get('email')));
  });
}

// ---- script editor and settings, shared by Create and the revision form ----

/** The frame size of `resolution` at `aspect`, as the server wrote it on the resolution's option
 *  (`data-frames="16:9=854x480 9:16=480x854 1:1=480x480"`), so no rounding rule is copied here. */
function frameSize(aspect, resolution) {
  const option = [...document.querySelectorAll('#resolution option')].find((o) => o.value === resolution);
  const sizes = Object.fromEntries((option ? option.dataset.frames : '').split(' ')
    .filter(Boolean).map((entry) => {
      const [name, size] = entry.split('=');
      return [name, size.split('x').map(Number)];
    }));
  return sizes[aspect] || sizes['16:9'] || [1280, 720];
}

function countWords(text) {
  const m = text.trim().match(/\S+/g);
  return m ? m.length : 0;
}

/** Seconds of narration at `rate` words a minute, with the engine's pauses: 0.3 s before the
 *  first word, 0.5 s after the last, 0.25 s between scenes (about one a sentence). */
function estimateSeconds(text, rate) {
  const words = countWords(text);
  if (!words) return 0;
  const sentences = Math.max(1, (text.match(/[.!?]+(\s|$)/g) || []).length);
  return words / Math.max(rate, 1) * 60 + 0.8 + (sentences - 1) * 0.25;
}

/** The script's word limit (the server's, in the textarea's data-max-words). */
function maxWords(form) {
  return Number($('#script', form).dataset.maxWords) || 5000;
}

/** Why the script cannot be submitted as it is, or ''. */
function scriptProblem(form) {
  const text = $('#script', form).value;
  const words = countWords(text);
  if (!words) return 'Write a script first.';
  const max = maxWords(form);
  if (words > max) return `The script has ${words.toLocaleString('en')} words; the limit is ${max.toLocaleString('en')}. Shorten it to submit.`;
  return '';
}

/** Wires the word count and length estimate. `opts.recording()` answers the seconds of a voice
 *  recording that narrates instead of the synthetic voice (its length is the video's), or null. */
function setupEditor(form, opts = {}) {
  const script = $('#script', form);
  const rate = $('#rate', form);
  $('#word-limit', form).textContent = maxWords(form).toLocaleString('en');
  const update = () => {
    const words = countWords(script.value);
    const recorded = opts.recording ? opts.recording() : null;
    const seconds = recorded !== null && recorded !== undefined ? recorded : estimateSeconds(script.value, Number(rate.value));
    $('#rate-out', form).value = rate.value;
    $('#word-count', form).textContent = `${words.toLocaleString('en')} word${words === 1 ? '' : 's'}`;
    $('#script-stats', form).classList.toggle('error', words > maxWords(form));
    $('#est-length', form).textContent = fmtSeconds(seconds);
    const len = $('#estimate-length');
    if (len) len.textContent = fmtSeconds(seconds);
    const size = $('#estimate-size');
    if (size) size.textContent = frameSize($('#aspect', form).value, $('#resolution', form).value).join(' × ');
  };
  form.addEventListener('input', update);
  form.addEventListener('change', update);
  update();
  return update;
}

/** The chosen engine or model: `studio`, or `provider|model`, as the settings' select holds it. */
function chosenModel(form) {
  const select = $('#model', form);
  const value = select ? select.value : 'studio';
  if (!value || value === 'studio') return { provider: null, model: null };
  const cut = value.indexOf('|');
  return { provider: value.slice(0, cut), model: value.slice(cut + 1) };
}

/** A shown optional prompt field's trimmed value, or null. */
function promptValue(form, fieldId, inputId) {
  const field = $('#' + fieldId, form);
  const v = field && !field.hidden ? $('#' + inputId, form).value.trim() : '';
  return v || null;
}

function readSpec(form) {
  const { provider, model } = chosenModel(form);
  return {
    provider, model,
    prompt: provider ? promptValue(form, 'prompt-field', 'prompt') : null,
    negative_prompt: provider ? promptValue(form, 'negative-field', 'negative-prompt') : null,
    script: $('#script', form).value,
    aspect: $('#aspect', form).value,
    resolution: $('#resolution', form).value,
    fps: Number($('#fps', form).value),
    motion: $('#motion', form).value,
    style: $('#style', form).value,
    captions: $('#captions', form).value,
    tts: { voice: $('#tts-voice', form).value, rate: Number($('#rate', form).value), pitch: $('#pitch', form) ? Number($('#pitch', form).value) : 50 },
    // Transition, title background and caption style (look.js, with the settings' look fields).
    ...(typeof readLook === 'function' ? readLook(form) : {}),
  };
}

function fillSpec(form, spec) {
  $('#script', form).value = spec.script || '';
  for (const [id, v] of [['aspect', spec.aspect], ['resolution', spec.resolution], ['fps', spec.fps],
    ['motion', spec.motion], ['style', spec.style], ['captions', spec.captions]]) {
    if (v !== undefined) $('#' + id, form).value = String(v);
  }
  const select = $('#model', form);
  if (select && spec.provider && spec.provider !== 'studio') {
    const value = `${spec.provider}|${spec.model || ''}`;
    if (![...select.options].some((o) => o.value === value)) {
      // A provider this server no longer offers: shown, so the revision form does not silently switch.
      select.append(el('option', { value, text: `${spec.provider} · ${spec.model || ''} (not available now)`, disabled: true }));
    }
    select.value = value;
  }
  if ($('#prompt', form)) $('#prompt', form).value = spec.prompt || '';
  if ($('#negative-prompt', form)) $('#negative-prompt', form).value = spec.negative_prompt || '';
  if (select) select.dispatchEvent(new Event('change', { bubbles: true }));
  if (typeof fillLook === 'function') fillLook(form, spec);
  if (spec.tts) {
    const voice = $('#tts-voice', form);
    if (![...voice.options].some((o) => o.value === spec.tts.voice)) voice.append(el('option', { value: spec.tts.voice, text: spec.tts.voice }));
    voice.value = spec.tts.voice;
    $('#rate', form).value = spec.tts.rate;
    if ($('#pitch', form) && spec.tts.pitch !== undefined) $('#pitch', form).value = spec.tts.pitch;
  }
}

// ---- Create ----

function setupDrop(zone, input, list, { multiple, onChange }) {
  const items = [];
  const render = () => onChange(items);
  const add = async (file) => {
    if (!multiple) { for (const it of items.splice(0)) it.node.remove(); }
    const url = URL.createObjectURL(file);
    const kind = file.type.split('/')[0];
    const preview = kind === 'image' ? el('img', { src: url, alt: `Preview of ${file.name}` })
      : kind === 'video' ? el('video', { src: url, muted: true, playsinline: true, 'aria-label': `Preview of ${file.name}` })
        : el('audio', { src: url, controls: true, 'aria-label': `Preview of ${file.name}` });
    const status = el('p', { class: 'meta', text: 'Uploading…', role: 'status' });
    const item = { id: null, node: null, name: file.name, refused: false, duration: null };
    const remove = el('button', { type: 'button', class: 'link', text: 'Remove', 'aria-label': `Remove ${file.name}` });
    item.node = el('li', { 'data-upload': 'pending' }, preview, el('p', { class: 'name', text: file.name }), status, remove);
    remove.addEventListener('click', () => {
      items.splice(items.indexOf(item), 1);
      item.node.remove();
      if (item.id) api('DELETE', '/uploads/' + item.id).catch(() => {});
      render();
    });
    items.push(item);
    list.append(item.node);
    render();
    try {
      const fd = new FormData();
      fd.append('file', file, file.name);
      const up = await api('POST', '/uploads', fd);
      item.id = up.id;
      item.duration = up.duration || null;
      item.node.dataset.upload = up.id;
      const dims = up.width ? ` · ${up.width}×${up.height}` : '';
      const dur = up.duration ? ` · ${fmtSeconds(up.duration)}` : '';
      status.textContent = `Ready${dims}${dur}`;
    } catch (err) {
      // Marked, and it blocks submitting until removed: never silently left out of the video.
      status.textContent = `Not accepted: ${err.message} Remove it to continue.`;
      status.classList.add('error');
      item.refused = true;
      item.node.classList.add('refused');
      item.node.dataset.upload = 'failed';
      remove.focus();
    }
    render();
  };
  input.addEventListener('change', () => { for (const f of input.files) add(f); input.value = ''; });
  zone.addEventListener('dragover', (ev) => { ev.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (ev) => {
    ev.preventDefault();
    zone.classList.remove('over');
    const files = [...ev.dataTransfer.files];
    for (const f of multiple ? files : files.slice(0, 1)) add(f);
  });
  return items;
}

function setupCreate() {
  const form = $('#create-form');
  const submit = $('#create-submit');
  let quote = null; // the live cost quote, once the model choice is filled
  let media = [];
  let voice = [];
  let music = null; // the music chooser (setupSound)
  const recording = () => voice.find((i) => i.id) || null;
  const update = setupEditor(form, { recording: () => (recording() ? recording().duration : null) });
  /** Every reason the form cannot be submitted now; the button is disabled while there is one. */
  const problems = () => {
    const out = [];
    const script = scriptProblem(form);
    if (script) out.push(script);
    const all = [...media, ...voice, ...(music ? music.uploads() : [])];
    const refused = all.filter((i) => i.refused);
    if (refused.length) out.push(`Remove ${refused.map((i) => `“${i.name}”`).join(', ')}: the server did not accept ${refused.length === 1 ? 'it' : 'them'}.`);
    if (all.some((i) => !i.id && !i.refused)) out.push('Wait until every upload is ready.');
    if (quote && quote.blocked()) out.push(quote.blocked());
    return out;
  };
  const refresh = () => {
    const why = problems();
    submit.disabled = why.length > 0;
    submit.textContent = [...media, ...voice].some((i) => !i.id && !i.refused) ? 'Waiting for uploads…' : 'Create video';
    $('#submit-help').textContent = why.join(' ');
    // A recording narrates: the synthetic narrator's settings no longer apply.
    const rec = recording();
    for (const id of ['tts-voice', 'rate', 'pitch']) if ($('#' + id, form)) $('#' + id, form).disabled = Boolean(rec);
    const help = $('#voice-help', form);
    if (help) help.hidden = !rec;
  };
  const changed = () => { update(); refresh(); if (quote) quote.schedule(); };
  media = setupDrop($('#media-drop'), $('#media-input'), $('#media-list'), { multiple: true, onChange: changed });
  voice = setupDrop($('#voice-drop'), $('#voice-input'), $('#voice-list'), { multiple: false, onChange: changed });
  music = setupSound(form, changed);
  form.addEventListener('input', refresh);
  form.addEventListener('change', refresh);
  setupModels(form).then(async () => {
    // A new creation starts from the settings of the last one (P-IN-6); never its script.
    const prefs = await api('GET', '/me/preferences').catch(() => null);
    if (prefs && prefs.settings && !$('#script', form).value) fillSpec(form, { ...prefs.settings, script: '' });
    quote = setupQuote(form, () => media.filter((i) => i.id).map((i) => i.id), refresh);
    refresh();
  }).catch(showError);
  refresh();
  if (params().get('welcome')) $('#welcome-notice').hidden = false;
  api('GET', '/me').then((me) => { $('#paused-notice').hidden = !me.processing_paused; }).catch(() => {});
  onSubmit(form, async () => {
    const why = problems();
    if (why.length) throw new Error(why[0]);
    const spec = readSpec(form);
    spec.media = media.filter((i) => i.id).map((i) => i.id);
    const v = voice.find((i) => i.id);
    if (v) spec.voice = v.id;
    if (music) Object.assign(spec, music.spec());
    if (form.dataset.draft === '1') {
      // "Storyboard first" (storyboard.js): planned and quoted, nothing queued or reserved.
      delete form.dataset.draft;
      const draft = await api('POST', '/storyboards', spec);
      location.assign('/storyboards/' + encodeURIComponent(draft.id));
      return;
    }
    const key = (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random();
    const job = await api('POST', '/jobs', spec, { 'Idempotency-Key': key });
    location.assign('/creations/' + encodeURIComponent(job.id));
  });
}

// ---- progress from the events stream ----

const TERMINAL = ['succeeded', 'failed', 'cancelled'];

/** Follows a job's events; calls onUpdate({status, stage, progress}) and onEnd(status). */
function follow(jobId, onUpdate, onEnd) {
  const es = new EventSource(`/api/v1/jobs/${encodeURIComponent(jobId)}/events`);
  const handle = (kind) => (ev) => {
    let data = {};
    try { data = JSON.parse(ev.data); } catch { /* keep-alive */ }
    const status = kind === 'progress' || kind === 'started' ? 'running' : kind;
    onUpdate({ status, stage: data.stage, progress: data.progress });
    if (TERMINAL.includes(kind)) { es.close(); onEnd(kind); }
  };
  for (const kind of ['queued', 'started', 'progress', 'retrying', ...TERMINAL]) es.addEventListener(kind, handle(kind));
  es.onerror = () => { if (es.readyState === EventSource.CLOSED) onEnd(null); };
  return es;
}

function setProgress(bar, text, p) {
  if (typeof p !== 'number') return;
  const pct = Math.round(Math.max(0, Math.min(1, p)) * 100);
  if (pct < Number(bar.value)) return;
  bar.value = pct;
  bar.textContent = `${pct}%`;
  if (text) text.textContent = `${pct}%`;
}

function statusBadge(node, status) {
  node.textContent = status;
  node.className = 'status ' + status;
}

// ---- My creations ----

function jobTitle(job) {
  if (job.title) return job.title; // its own, or the script's first words (from the server)
  const s = (job.params && job.params.script || '').trim().replace(/\s+/g, ' ');
  return s.length > 60 ? s.slice(0, 57) + '…' : s || 'Untitled';
}

async function setupCreations() {
  const list = $('#jobs');
  let jobs;
  try { jobs = await api('GET', '/jobs?limit=100'); } catch (err) { showError(err); return; }
  list.setAttribute('aria-busy', 'false');
  $('#jobs-empty').hidden = jobs.length > 0;
  $('#jobs-tools').hidden = jobs.length < 2;
  const search = $('#jobs-search'); // matches titles and scripts
  const sort = $('#jobs-sort');
  const arrange = () => {
    const words = search.value.toLocaleLowerCase().split(/\s+/).filter(Boolean);
    const cards = [...list.children];
    let shown = 0;
    for (const card of cards) {
      const text = card.dataset.text;
      card.hidden = !words.every((w) => text.includes(w));
      if (!card.hidden) shown += 1;
    }
    const key = sort.value;
    const by = {
      newest: (a, b) => b.dataset.created.localeCompare(a.dataset.created),
      oldest: (a, b) => a.dataset.created.localeCompare(b.dataset.created),
      title: (a, b) => a.dataset.title.localeCompare(b.dataset.title),
    }[key];
    list.append(...cards.sort(by));
    $('#jobs-count').textContent = words.length ? `${shown} of ${cards.length} creations match.` : '';
  };
  search.addEventListener('input', arrange);
  sort.addEventListener('change', arrange);
  for (const job of jobs) {
    const href = '/creations/' + encodeURIComponent(job.id);
    const thumb = el('a', { class: 'thumb', href, tabindex: '-1', 'aria-hidden': 'true' });
    const poster = () => thumb.replaceChildren(el('img', { src: `/api/v1/jobs/${job.id}/poster`, alt: '', loading: 'lazy' }));
    if (job.status === 'succeeded') poster();
    const badge = el('span', {});
    statusBadge(badge, job.status);
    const bar = el('progress', { max: '100', value: '0', 'aria-label': `Progress of ${jobTitle(job)}` });
    setProgress(bar, null, job.status === 'succeeded' ? 1 : job.progress);
    const card = el('li', { 'data-job': job.id, 'data-status': job.status, 'data-created': job.created_at,
      'data-title': jobTitle(job).toLocaleLowerCase(), 'data-text': `${jobTitle(job)}\n${job.params.script || ''}`.toLocaleLowerCase() },
      thumb,
      el('h2', {}, el('a', { href, text: jobTitle(job) })),
      el('p', { class: 'meta' }, badge, document.createTextNode(` · revision ${job.revision} · ${fmtDate(job.created_at)}`)),
      bar);
    list.append(card);
    if (!TERMINAL.includes(job.status)) {
      follow(job.id, (u) => {
        statusBadge(badge, u.status);
        card.dataset.status = u.status;
        setProgress(bar, null, u.status === 'succeeded' ? 1 : u.progress);
      }, (end) => { if (end === 'succeeded') poster(); });
    }
  }
}

// ---- one creation ----

/** Karaoke and subtitle captions are drawn into the video's picture; with `off` there are none
 *  in the picture and the WebVTT track is the only way to see them (decision D-studio-1). */
function captionsBurnedIn(params) {
  return Boolean(params) && params.captions !== 'off';
}

/** A revision's download name: the job's `file_stem`, with `-r<n>` after the first revision. */
function fileName(job, revision, ext) {
  return `${job.file_stem || 'video'}${revision > 1 ? `-r${revision}` : ''}.${ext}`;
}

async function setupJob() {
  const root = $('#job');
  const id = root.dataset.jobId;
  const base = `/api/v1/jobs/${encodeURIComponent(id)}`;
  const bar = $('#job-progress');
  const barText = $('#job-progress-text');
  const form = $('#revise-form');
  const update = setupEditor(form);
  if (form) setupSound(form, () => {});
  let stream = null;
  let job = null; // the job as last read
  // The owner's processing pause (P-RIGHTS-4); null until known, so a queued job is never first
  // shown as next in line when it actually waits for the owner.
  let paused = null;
  let queueTimer = null;
  const revisionParams = new Map(); // revision → its settings, for the player's captions
  let shown = null; // the revision in the player

  const showVideo = (revision) => {
    shown = revision;
    // Always the explicit revision: a new revision's poster and video are new URLs, so the
    // browser never shows the previous one from its cache.
    const q = `?revision=${revision}`;
    const video = $('#player');
    video.replaceChildren();
    video.src = `${base}/video${q}`;
    video.poster = `${base}/poster${q}`;
    video.dataset.revision = String(revision);
    const params = revisionParams.get(revision) || (job && job.params);
    const burned = captionsBurnedIn(params);
    // The track stays for assistive technology and other players' files, but is never drawn over
    // captions that are already in the picture.
    const track = el('track', { kind: 'captions', srclang: 'en', label: 'Captions', src: `${base}/captions.vtt${q}` });
    video.append(track);
    const toggle = $('#captions-toggle');
    $('#captions-switch').hidden = burned;
    $('#captions-note').textContent = burned
      ? 'Captions are part of this video’s picture (chosen when it was made). The caption files below are for other players.'
      : 'This video has no captions in its picture; the switch shows them from the captions file.';
    video.dataset.captions = burned ? 'burned-in' : 'track';
    if (burned) toggle.checked = false;
    const apply = () => { for (const t of video.textTracks) t.mode = !burned && toggle.checked ? 'showing' : 'disabled'; };
    // Set once, not again on the track's load: a mode someone chose meanwhile stays.
    toggle.onchange = apply;
    apply();
    const names = { mp4: fileName(job, revision, 'mp4'), vtt: fileName(job, revision, 'vtt'), srt: fileName(job, revision, 'srt') };
    for (const [ext, path] of [['mp4', 'video'], ['vtt', 'captions.vtt'], ['srt', 'captions.srt']]) {
      const link = $('#dl-' + ext);
      link.href = `${base}/${path}${q}`;
      link.setAttribute('download', names[ext]);
    }
    $('#player-section').hidden = false;
  };

  /** What a queued job waits for: the pause, or the jobs ahead of it. */
  const showWaiting = () => {
    const box = $('#job-waiting');
    clearTimeout(queueTimer);
    if (!job || job.status !== 'queued' || paused === null) { box.hidden = true; return; }
    if (paused) {
      box.replaceChildren(document.createTextNode('Waiting: processing is paused for your account, so this creation starts only when you resume it in '),
        el('a', { href: '/account#processing-h', text: 'Account → Processing' }), document.createTextNode('.'));
    } else if (typeof job.queue_ahead === 'number') {
      box.textContent = job.queue_ahead === 0 ? 'Queued: it is next, and starts as soon as a worker is free.'
        : `Queued: ${job.queue_ahead} creation${job.queue_ahead === 1 ? '' : 's'} ahead of this one.`;
    } else box.textContent = 'Queued: it starts as soon as a worker is free.';
    box.hidden = false;
    // The queue moves without events for this job: look again now and then.
    queueTimer = setTimeout(() => refreshJob().catch(() => {}), 5000);
  };

  /** Shows a state from the events stream at once, before (and without) reading the job. */
  const showState = (status, stage, progress) => {
    statusBadge($('#job-status'), status);
    root.dataset.status = status;
    $('#job-stage').textContent = stage && !TERMINAL.includes(status) ? `· ${stage}` : '';
    $('#job-cancel').hidden = TERMINAL.includes(status);
    if (status !== 'queued') $('#job-waiting').hidden = true;
    if (status === 'succeeded') setProgress(bar, barText, 1);
    else if (typeof progress === 'number') setProgress(bar, barText, progress);
  };

  const showTitle = () => {
    $('#job-title').textContent = jobTitle(job);
    const input = $('#title-input');
    // Not while someone is typing a new one: the job is read again as it renders.
    if (input && document.activeElement !== input) input.value = job.title_is_default ? '' : job.title;
    if (input) input.placeholder = job.title_is_default ? job.title : 'the script’s first words';
    if (shown !== null) {
      for (const ext of ['mp4', 'vtt', 'srt']) $('#dl-' + ext).setAttribute('download', fileName(job, shown, ext));
    }
  };

  onSubmit($('#rename-form'), async (f) => {
    if (!job) return undefined;
    const renamed = await api('PATCH', `/jobs/${encodeURIComponent(id)}`, { title: f.get('title') });
    job = { ...job, title: renamed.title, title_is_default: renamed.title_is_default, file_stem: renamed.file_stem };
    showTitle();
    $('#title-input').value = job.title_is_default ? '' : job.title;
    return job.title_is_default ? 'The title is the script’s first words again.' : 'Renamed.';
  }, { fields: { [E.JOB_TITLE_TOO_LONG]: 'title', [E.JOB_TITLE_INVALID]: 'title' } });

  const render = () => {
    showTitle();
    $('#job-script').textContent = job.params.script || '';
    bar.value = 0;
    showState(job.status, job.stage, job.progress || 0);
    showWaiting();
    if (job.status === 'succeeded') showVideo(job.revision);
    showLoudness($('#job-loudness'), job);
    if (job.status === 'failed' && job.error) showError(new Error(`Rendering failed: ${sentence(job.error.message)}`));
  };

  const gone = () => {
    // Deleted meanwhile (in another tab, say): say so instead of leaving a page that acts on nothing.
    if (stream) { stream.close(); stream = null; }
    clearTimeout(queueTimer);
    root.replaceChildren(el('h1', { text: 'This creation does not exist' }),
      el('p', { text: 'It was deleted, maybe in another window.' }),
      el('p', { class: 'actions' }, el('a', { class: 'button primary', href: '/creations', text: 'My creations' })));
    root.dataset.status = 'gone';
  };

  // Deletes an earlier revision (the current one goes only with the whole creation).
  const deleteRevision = async (revision) => {
    if (!confirm(`Delete revision ${revision}, its video and its captions? This cannot be undone.`)) return;
    showError(null);
    const note = $('#revisions-status');
    note.textContent = '';
    try {
      await api('DELETE', `/jobs/${encodeURIComponent(id)}/revisions/${revision}`);
      if (shown === revision) {
        if (root.dataset.status === 'succeeded') showVideo(job.revision);
        else { $('#player').removeAttribute('src'); $('#player-section').hidden = true; }
      }
      await loadRevisions();
      note.textContent = `Revision ${revision} is deleted.`;
      $('#revisions-h').focus();
    } catch (err) { showError(err); }
  };

  const loadRevisions = async () => {
    const list = $('#revisions');
    const revs = await api('GET', `/jobs/${encodeURIComponent(id)}/revisions`);
    list.replaceChildren();
    for (const r of revs) revisionParams.set(r.revision, r.params);
    for (const r of revs.slice().reverse()) {
      const isCurrent = r.revision === job.revision;
      const li = el('li', { 'data-revision': r.revision },
        el('strong', { text: `Revision ${r.revision}` }),
        isCurrent ? document.createTextNode(' ') : null,
        isCurrent ? el('span', { class: 'tag', text: 'current' }) : null,
        document.createTextNode(` · ${r.status} · ${fmtDate(r.created_at)} `));
      if (r.status === 'succeeded') {
        li.append(el('button', { type: 'button', class: 'link', text: 'Play', 'aria-label': `Play revision ${r.revision}`, onclick: () => { showVideo(r.revision); $('#player').focus(); } }));
        li.append(el('a', { href: `${base}/video?revision=${r.revision}`, download: fileName(job, r.revision, 'mp4'), text: 'MP4', 'aria-label': `MP4 of revision ${r.revision}` }));
      }
      if (!isCurrent) {
        li.append(el('button', { type: 'button', class: 'link danger', text: 'Delete', 'aria-label': `Delete revision ${r.revision}`, onclick: () => deleteRevision(r.revision) }));
      }
      li.append(el('p', { class: 'meta script', text: (r.params && r.params.script) || '' }));
      list.append(li);
    }
  };

  const refreshJob = async () => {
    try { job = await api('GET', `/jobs/${encodeURIComponent(id)}`); } catch (err) {
      if (err.status === 404) { gone(); return null; }
      throw err;
    }
    showWaiting();
    return job;
  };

  const load = async () => {
    if (!(await refreshJob())) return null;
    await loadRevisions();
    render();
    showCost($('#job-cost'), job);
    await loadTransfers(id);
    if (!TERMINAL.includes(job.status)) watch();
    return job;
  };

  const watch = () => {
    if (stream) stream.close();
    stream = follow(id, (u) => {
      showState(u.status, u.stage, u.status === 'succeeded' ? 1 : u.progress);
    }, () => { stream = null; load().catch(showError); });
  };

  try {
    await setupModels(form).catch(showError);
    api('GET', '/me').then((me) => { paused = Boolean(me.processing_paused); showWaiting(); })
      .catch(() => { paused = false; showWaiting(); });
    const first = await load();
    if (first) {
      fillSpec(form, first.params);
      form.dispatchEvent(new Event('input'));
    }
  } catch (err) { showError(err); }

  const reviseButton = $('button[type=submit]', form);
  const checkRevision = () => {
    const why = scriptProblem(form);
    reviseButton.disabled = Boolean(why);
    reviseButton.title = why;
  };
  form.addEventListener('input', checkRevision);
  checkRevision();
  onSubmit(form, async () => {
    const why = scriptProblem(form);
    if (why) throw new Error(why);
    const latest = await api('GET', `/jobs/${encodeURIComponent(id)}`);
    const spec = { ...latest.params, ...readSpec(form) };
    await api('POST', `/jobs/${encodeURIComponent(id)}/revisions`, spec);
    $('#player-section').hidden = true;
    $('#player').removeAttribute('src');
    $('#player').removeAttribute('poster');
    bar.value = 0;
    await load();
    $('#job-progress').scrollIntoView({ block: 'center' });
  });
  update();

  $('#job-cancel').addEventListener('click', async () => {
    showError(null);
    try { await api('POST', `/jobs/${encodeURIComponent(id)}/cancel`); await load(); } catch (err) {
      // Finished meanwhile: show how it ended rather than an error about a button that should be gone.
      if (err.code === E.JOB_ALREADY_FINISHED) await load();
      else showError(err);
    }
  });
  $('#job-delete').addEventListener('click', async () => {
    if (!confirm('Delete this creation, every revision and every file? Uploads that no other creation uses are deleted with it. This cannot be undone.')) return;
    showError(null);
    try {
      if (stream) stream.close();
      await api('DELETE', `/jobs/${encodeURIComponent(id)}`);
      location.assign('/creations');
    } catch (err) { showError(err); }
  });
}

// ---- AI providers: the model choice, the quote, consent, credits and the transfer log ----

let catalogue = null;
/** GET /providers once per page. */
function loadCatalogue() {
  if (!catalogue) catalogue = api('GET', '/providers');
  return catalogue;
}

const KIND_TEXT = { 'text-to-video': 'text to video', 'image-to-video': 'image to video', 'text-to-image': 'still images' };

function priceText(price) {
  if (!price.credits) return 'free';
  const unit = price.credits === 1 ? 'credit' : 'credits';
  if (price.per === '1000 characters') return `${price.credits} ${unit} per 1000 characters`;
  return price.per === 'image' ? `${price.credits} ${unit} an image` : `${price.credits} ${unit} a second`;
}

function durationsText(d) {
  if (d.kind === 'fixed') return `shots of ${d.seconds.join(' or ')} s`;
  if (d.kind === 'range') return `shots of ${d.min} to ${d.max} s`;
  return 'one still image a scene';
}

/** What a model's jobs send to its provider, in words. */
function sendsText(sends) {
  const words = { prompt: 'each scene’s visual prompt (from its narration or your scene prompts, with your style)',
    negative_prompt: 'your negative prompt', image: 'the scene’s image, for image to video',
    narration: 'each scene’s narration, to write its visual prompt', voice: 'your voice recording, to time the captions' };
  return sends.map((s) => words[s] || s).join('; ');
}

/** Fills the settings' model select from the providers the server has configured, and keeps the
 *  aspect and resolution choices and the prompt fields to what the chosen model allows. */
async function setupModels(form) {
  const select = $('#model', form);
  if (!select) return;
  const data = await loadCatalogue();
  const models = new Map();
  select.replaceChildren();
  for (const p of data.providers.filter((p) => p.enabled && p.role === 'shots')) {
    const studio = p.provider === 'studio';
    const group = studio ? select : el('optgroup', { label: p.label });
    for (const m of p.models) {
      const value = studio ? 'studio' : `${p.provider}|${m.model}`;
      models.set(value, { p, m });
      group.append(el('option', { value, text: studio ? p.label : `${m.model} (${m.kinds.map((k) => KIND_TEXT[k] || k).join(', ')}; ${priceText(m.price)})` }));
    }
    if (!studio) select.append(group);
  }
  const limit = (control, allowed) => {
    for (const o of control.options) {
      const ok = !allowed || allowed.includes(o.value);
      o.disabled = !ok;
      o.hidden = !ok;
    }
    if (control.selectedOptions[0] && control.selectedOptions[0].disabled) {
      const first = [...control.options].find((o) => !o.disabled);
      if (first) control.value = first.value;
    }
  };
  const apply = () => {
    const chosen = models.get(select.value);
    const studio = !chosen || chosen.p.provider === 'studio';
    const m = chosen && chosen.m;
    // The studio engine's choices are the form's own; a provider's model allows its own subset.
    limit($('#aspect', form), studio ? null : m.aspects);
    limit($('#resolution', form), studio || !m.resolutions.length ? null : m.resolutions);
    $('#prompt-field', form).hidden = studio;
    $('#negative-field', form).hidden = studio || !m.negative_prompt;
    if (!studio) {
      $('#prompt', form).maxLength = m.max_prompt_chars;
      $('#negative-prompt', form).maxLength = m.max_prompt_chars;
    }
    $('#model-help', form).textContent = studio
      ? 'The studio engine makes the video on this server from your images and clips: nothing is sent anywhere. Free.'
      : `${chosen.p.label}: ${m.kinds.map((k) => KIND_TEXT[k] || k).join(', ')}; ${durationsText(m.durations)}`
        + `${m.native_audio ? '; makes its own sound' : ''}${m.resolutions.length ? '' : '; the provider picks the resolution'}`
        + `. Costs ${priceText(m.price)}. Sends ${chosen.p.label} ${sendsText(m.sends)}.`;
  };
  select.addEventListener('change', apply);
  apply();
}

/** Asks the server what the form's job would cost (POST /jobs/quote) whenever a setting changes,
 *  and shows it with the balance; a missing consent or a short balance blocks submission. */
function setupQuote(form, mediaIds, onBlock) {
  const cost = $('#estimate-cost');
  const balance = $('#estimate-balance');
  const note = $('#estimate-note');
  const notice = $('#consent-notice');
  let timer = null;
  let seq = 0;
  let blocked = '';
  const block = (why) => { blocked = why; onBlock(); };
  const showBalance = (n) => balance.replaceChildren(el('a', { href: '/credits', text: `${n} credit${n === 1 ? '' : 's'}` }));
  let quoted = false; // a quote's balance is newer than this first look
  api('GET', '/me/credits?limit=1').then((d) => { if (!quoted) showBalance(d.balance); }).catch(() => {});
  const run = async () => {
    const n = ++seq;
    const spec = readSpec(form);
    spec.media = mediaIds();
    if (!spec.script.trim()) {
      cost.textContent = spec.provider ? 'Write a script to see the cost' : 'Free: the studio engine runs on this server';
      note.textContent = '';
      notice.hidden = true;
      block('');
      return;
    }
    let q;
    try { q = await api('POST', '/jobs/quote', spec); } catch (err) {
      if (n !== seq) return;
      cost.textContent = 'Not available';
      note.textContent = err.message;
      notice.hidden = true;
      block('');
      return;
    }
    if (n !== seq) return;
    quoted = true;
    showBalance(q.balance);
    document.dispatchEvent(new CustomEvent('reelsmith:quote', { detail: q })); // billing.js: the plan's limits
    const shots = q.scenes.flatMap((s) => s.shots);
    if (!q.scenes.length) cost.textContent = 'Free: the studio engine runs on this server';
    else cost.textContent = `${q.credits} credit${q.credits === 1 ? '' : 's'} for ${shots.length} shot${shots.length === 1 ? '' : 's'} in ${q.scenes.length} scene${q.scenes.length === 1 ? '' : 's'}`;
    const label = (select) => select.selectedOptions[0] ? select.selectedOptions[0].parentElement.label || q.provider : q.provider;
    const cloudVoice = $('#tts-voice', form) && $('#tts-voice', form).selectedOptions[0];
    const voiceNeedsConsent = cloudVoice && cloudVoice.dataset.provider && cloudVoice.dataset.consent !== 'granted';
    if (q.consent_missing && voiceNeedsConsent) {
      const name = cloudVoice.dataset.company;
      notice.replaceChildren(document.createTextNode(`This voice is ${name}'s: jobs with it send your script to that company. `),
        el('a', { href: '/providers', text: `Give your consent for ${name} on the AI providers page` }),
        document.createTextNode(' before you submit.'));
      notice.hidden = false;
      block(`Give your consent for ${name} on the AI providers page first.`);
    } else if (q.consent_missing) {
      const name = label($('#model', form));
      notice.replaceChildren(document.createTextNode(`Jobs with ${name} send your scene prompts to that company. `),
        el('a', { href: '/providers', text: `Give your consent for ${name} on the AI providers page` }),
        document.createTextNode(' before you submit.'));
      notice.hidden = false;
      block(`Give your consent for ${name} on the AI providers page first.`);
    } else {
      notice.hidden = true;
      block(q.affordable ? '' : `This costs ${q.credits} credits and your balance is ${q.balance}.`);
    }
    note.textContent = q.affordable ? '' : `This costs more than your balance of ${q.balance} credits.`;
  };
  const schedule = () => { clearTimeout(timer); timer = setTimeout(run, 250); };
  form.addEventListener('input', schedule);
  form.addEventListener('change', schedule);
  run();
  return { schedule, blocked: () => blocked };
}

function showCost(node, job) {
  const c = job.cost;
  if (!node) return;
  if (!c || !c.revisions.length) { node.textContent = 'Free: made by the studio engine on this server.'; return; }
  const parts = [];
  if (c.reserved) parts.push(`${c.reserved} credits reserved while it is made`);
  if (c.charged) parts.push(`${c.charged} credits charged`);
  if (c.refunded) parts.push(`${c.refunded} credits given back`);
  node.textContent = parts.join(' · ') || 'No credits.';
}

/** A transfer's `sent` description in words: sizes and ids, never content. */
function describeSent(sent) {
  if (!sent || typeof sent !== 'object') return '';
  const parts = [];
  if (sent.scene !== undefined) parts.push(`scene ${Number(sent.scene) + 1}`);
  if (sent.kind) parts.push(KIND_TEXT[sent.kind] || sent.kind);
  if (sent.prompt_chars !== undefined) parts.push(`prompt (${sent.prompt_chars} characters)`);
  if (sent.negative_prompt_chars) parts.push(`negative prompt (${sent.negative_prompt_chars} characters)`);
  if (sent.image) parts.push(`image ${sent.image.upload_id || ''} (${sent.image.bytes} bytes, ${sent.image.mime})`);
  if (sent.duration_s) parts.push(`${sent.duration_s} s`);
  if (sent.aspect) parts.push(sent.aspect);
  if (sent.resolution) parts.push(sent.resolution);
  const known = ['scene', 'kind', 'prompt_chars', 'negative_prompt_chars', 'image', 'duration_s', 'aspect', 'resolution'];
  for (const [k, v] of Object.entries(sent)) if (!known.includes(k) && v !== null) parts.push(`${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`);
  return parts.join(', ');
}

async function loadTransfers(id) {
  const body = $('#transfers tbody');
  if (!body) return;
  const transfers = await api('GET', `/jobs/${encodeURIComponent(id)}/transfers`);
  body.replaceChildren();
  for (const t of transfers) {
    body.append(el('tr', { 'data-transfer': t.id },
      el('td', { text: fmtDate(t.created_at) }), el('td', { text: String(t.revision) }),
      el('td', { text: t.provider }), el('td', {}, el('code', { text: t.model })),
      el('td', { text: describeSent(t.sent) }), el('td', {}, t.request_id ? el('code', { text: t.request_id }) : document.createTextNode('—')),
      el('td', { text: t.status })));
  }
  $('#transfers-wrap').hidden = transfers.length === 0;
  $('#transfers-empty').hidden = transfers.length > 0;
}

async function setupProviders() {
  const root = $('#providers');
  const status = $('#consent-status');
  const render = async () => {
    const [list, consents] = await Promise.all([api('GET', '/providers'), api('GET', '/me/consents')]);
    $('#policy-version').textContent = list.policy_version;
    root.replaceChildren();
    const configured = list.providers.filter((p) => p.enabled && p.consent_required);
    for (const p of configured) {
      const c = p.consent || { state: 'none' };
      const h = `provider-${p.provider}-h`;
      const without = p.role === 'assistant'
        ? 'Scene prompts are your narration and recordings are timed on this server.'
        : `Jobs with ${p.label} are refused.`;
      const state = c.state === 'granted'
        ? `Given on ${fmtDate(c.granted_at)} under policy ${c.policy_version}.`
        : c.state === 'withdrawn' ? `Withdrawn on ${fmtDate(c.withdrawn_at)}. ${without}`
          : `Not given. ${without}`;
      const button = c.state === 'granted'
        ? el('button', { type: 'button', class: 'danger', text: 'Withdraw consent', 'aria-label': `Withdraw consent for ${p.label}`, onclick: () => change('DELETE', p) })
        : el('button', { type: 'button', class: 'primary', text: 'Give consent', 'aria-label': `Give consent for ${p.label}`, onclick: () => change('PUT', p) });
      root.append(el('section', { 'aria-labelledby': h, 'data-provider': p.provider, 'data-consent': c.state },
        el('h2', { id: h, text: p.label }),
        el('p', { text: p.role === 'assistant' ? `What ${p.label} receives, per use:` : `What a job with ${p.label} sends, per model:` }),
        el('ul', {}, ...p.models.map((m) => el('li', {}, el('code', { text: m.model }), document.createTextNode(`: ${sendsText(m.sends)}. Never your email address or other files.`)))),
        el('p', { class: 'consent-state' }, el('strong', { text: 'Your consent: ' }), document.createTextNode(state)),
        button));
    }
    root.setAttribute('aria-busy', 'false');
    $('#providers-empty').hidden = configured.length > 0;
    const body = $('#consent-history tbody');
    body.replaceChildren();
    for (const r of consents.history) {
      const known = list.providers.find((p) => p.provider === r.provider);
      body.append(el('tr', {}, el('td', { text: known ? known.label : r.provider }), el('td', { text: r.policy_version }),
        el('td', { text: fmtDate(r.granted_at) }), el('td', { text: r.withdrawn_at ? fmtDate(r.withdrawn_at) : '—' })));
    }
    $('#history-wrap').hidden = consents.history.length === 0;
    $('#history-empty').hidden = consents.history.length > 0;
  };
  const change = async (method, p) => {
    showError(null);
    status.textContent = '';
    try {
      await api(method, `/me/consents/${encodeURIComponent(p.provider)}`);
      await render();
      status.textContent = method === 'PUT' ? `Consent for ${p.label} is given.` : `Consent for ${p.label} is withdrawn.`;
      const again = $(`[data-provider="${p.provider}"] button`);
      if (again) again.focus();
    } catch (err) { showError(err); }
  };
  try { await render(); } catch (err) { showError(err); }
}

async function setupCredits() {
  const body = $('#ledger tbody');
  const more = $('#ledger-more');
  const PAGE = 50;
  let last = null;
  const load = async () => {
    const q = `?limit=${PAGE}${last ? '&before=' + encodeURIComponent(last) : ''}`;
    const data = await api('GET', '/me/credits' + q);
    $('#balance').textContent = `${data.balance} credit${data.balance === 1 ? '' : 's'}`;
    // Credits a refund or chargeback took back that the balance could not cover yet.
    $('#owed').hidden = !data.owed;
    $('#owed').textContent = data.owed ? `A refunded payment still takes back ${data.owed} credit${data.owed === 1 ? '' : 's'}: they come out of the next credits you receive.` : '';
    for (const e of data.ledger) {
      const job = e.job_id ? el('a', { href: '/creations/' + encodeURIComponent(e.job_id), text: `revision ${e.revision || 1}` }) : document.createTextNode('—');
      // data-label: at phone width each row is a stack of labelled cells, so nothing is cut off.
      body.append(el('tr', { 'data-kind': e.kind }, el('td', { text: fmtDate(e.created_at), 'data-label': 'Date' }), el('td', { text: e.kind, 'data-label': 'Kind' }),
        el('td', { class: 'num', text: e.amount > 0 ? `+${e.amount}` : String(e.amount), 'data-label': 'Credits' }), el('td', { 'data-label': 'Creation' }, job),
        el('td', { class: 'note', text: e.note, 'data-label': 'Note' })));
    }
    if (data.ledger.length) last = data.ledger[data.ledger.length - 1].id;
    more.hidden = data.ledger.length < PAGE;
    $('#ledger-empty').hidden = body.children.length > 0;
  };
  more.addEventListener('click', () => load().catch(showError));
  try { await load(); } catch (err) { showError(err); }
}

// ---- My uploads (P-RET-5) ----

function fmtBytes(n) {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

async function setupUploads() {
  const list = $('#uploads');
  const more = $('#uploads-more');
  const status = $('#uploads-status');
  const PAGE = 50;
  let last = null;
  // Which creations use each upload, from their settings (the newest 100 creations).
  const usedBy = new Map();
  try {
    for (const job of await api('GET', '/jobs?limit=100')) {
      const ids = [...(job.params.media || []), ...(job.params.voice ? [job.params.voice] : [])];
      for (const u of ids) usedBy.set(u, [...(usedBy.get(u) || []), job]);
    }
  } catch (err) { showError(err); }
  const card = (u) => {
    const src = `/api/v1/uploads/${encodeURIComponent(u.id)}/content`;
    const kindText = { image: 'Image', video: 'Clip', audio: 'Recording' }[u.kind] || u.kind;
    const preview = u.kind === 'image' ? el('img', { src, alt: `${kindText} uploaded ${fmtDate(u.created_at)}`, loading: 'lazy' })
      : u.kind === 'video' ? el('video', { src, preload: 'metadata', controls: true, muted: true, playsinline: true, 'aria-label': `Clip uploaded ${fmtDate(u.created_at)}` })
        : el('audio', { src, preload: 'none', controls: true, 'aria-label': `Recording uploaded ${fmtDate(u.created_at)}` });
    const jobs = usedBy.get(u.id) || [];
    const facts = [kindText, fmtBytes(u.size), u.width ? `${u.width}×${u.height}` : null, u.duration ? fmtSeconds(u.duration) : null, `uploaded ${fmtDate(u.created_at)}`].filter(Boolean).join(' · ');
    const use = jobs.length
      ? el('p', { class: 'meta' }, document.createTextNode('Used by '), ...jobs.flatMap((j, i) => [i ? document.createTextNode(', ') : null,
        el('a', { href: '/creations/' + encodeURIComponent(j.id), text: jobTitle(j) })].filter(Boolean)))
      : el('p', { class: 'meta', text: 'Not used by any creation.' });
    const li = el('li', { 'data-upload': u.id, 'data-kind': u.kind }, el('div', { class: 'thumb' }, preview),
      el('h2', { text: kindText }), el('p', { class: 'meta', text: facts }), use);
    li.append(el('button', { type: 'button', class: 'danger', text: 'Delete', 'aria-label': `Delete ${kindText.toLowerCase()} uploaded ${fmtDate(u.created_at)}`, onclick: async () => {
      const warn = jobs.length ? ` ${jobs.length === 1 ? 'A creation uses' : `${jobs.length} creations use`} it: videos already made stay, but a new revision cannot use it.` : '';
      if (!confirm(`Delete this ${kindText.toLowerCase()} from storage?${warn} This cannot be undone.`)) return;
      showError(null);
      status.textContent = '';
      try {
        await api('DELETE', '/uploads/' + encodeURIComponent(u.id));
        li.remove();
        status.textContent = `The ${kindText.toLowerCase()} is deleted.`;
        $('#uploads-empty').hidden = list.children.length > 0;
        $('h1').focus();
      } catch (err) { showError(err); }
    } }));
    return li;
  };
  const load = async () => {
    const q = `?limit=${PAGE}${last ? '&before=' + encodeURIComponent(last) : ''}`;
    const items = await api('GET', '/uploads' + q);
    list.append(...items.map(card));
    if (items.length) last = items[items.length - 1].id;
    more.hidden = items.length < PAGE;
    list.setAttribute('aria-busy', 'false');
    $('#uploads-empty').hidden = list.children.length > 0;
  };
  $('h1').setAttribute('tabindex', '-1');
  more.addEventListener('click', () => load().catch(showError));
  try { await load(); } catch (err) { showError(err); }
}

// ---- Account ----

/** A user agent string in words: the browser and the system, as far as they can be told. */
function describeAgent(ua) {
  const a = ua || '';
  const browser = /Edg\//.test(a) ? 'Edge' : /OPR\//.test(a) ? 'Opera' : /Firefox\//.test(a) ? 'Firefox'
    : /HeadlessChrome\//.test(a) ? 'Chrome (headless)' : /Chrom(e|ium)\//.test(a) ? 'Chrome' : /Safari\//.test(a) ? 'Safari'
      : /curl\//i.test(a) ? 'curl' : a ? a.split(/[\s/]/)[0] : 'An unknown browser';
  const system = /Android/.test(a) ? 'Android' : /iPhone|iPad|iPod/.test(a) ? 'iOS' : /CrOS/.test(a) ? 'ChromeOS'
    : /Windows/.test(a) ? 'Windows' : /Mac OS X|Macintosh/.test(a) ? 'macOS' : /Linux/.test(a) ? 'Linux' : 'an unknown system';
  return { browser, system };
}

/** sessionStorage key of an email change waiting for its code (cleared on sign-out). */
const PENDING = 'reelsmith.email-change';

async function setupAccount() {
  const loadSessions = async () => {
    const list = $('#sessions');
    const sessions = await api('GET', '/sessions');
    list.replaceChildren();
    for (const s of sessions) {
      const { browser, system } = describeAgent(s.user_agent);
      const who = `${browser} on ${system}`;
      const li = el('li', { 'data-session': s.id, 'data-current': s.current ? 'true' : 'false' },
        el('span', {}, el('strong', { text: who }),
          s.current ? document.createTextNode(' ') : null,
          s.current ? el('span', { class: 'tag', text: 'this session' }) : null,
          el('span', { class: 'meta', text: ` · ${s.ip ? `from ${s.ip}` : 'address unknown'} · signed in ${fmtDate(s.created_at)} · last seen ${fmtDate(s.last_seen_at)}` })));
      if (!s.current) {
        li.append(el('button', { type: 'button', text: 'Sign out', 'aria-label': `Sign out ${who}${s.ip ? ' from ' + s.ip : ''}`, onclick: async () => {
          try { await api('DELETE', '/sessions/' + s.id); await loadSessions(); } catch (err) { showError(err); }
        } }));
      }
      list.append(li);
    }
    $('#sessions-revoke-others').hidden = !sessions.some((s) => !s.current) || !sessions.some((s) => s.current);
  };
  $('#sessions-revoke-others').addEventListener('click', async () => {
    showError(null);
    try {
      const { revoked } = await api('POST', '/sessions/revoke-others');
      await loadSessions();
      $('#sessions-status').textContent = `Signed out of ${revoked} other session${revoked === 1 ? '' : 's'}. This one stays signed in.`;
    } catch (err) { showError(err); }
  });
  // Issue 23: each token's outbound webhook endpoints and their delivery log, read-only here
  // (registered through the API: a token's program owns its receiver).
  const webhookLog = (t) => {
    const box = el('details', { class: 'webhooks' }, el('summary', { text: 'Webhooks and delivery log' }));
    box.addEventListener('toggle', async () => {
      if (!box.open || box.dataset.loaded) return;
      box.dataset.loaded = '1';
      try {
        const endpoints = await api('GET', `/tokens/${t.id}/webhooks`);
        if (!endpoints.length) box.append(el('p', { class: 'meta', text: 'No webhook endpoints: register one with POST /api/v1/tokens/{id}/webhooks.' }));
        for (const e of endpoints) {
          const state = e.disabled_at ? `disabled ${fmtDate(e.disabled_at)}: ${e.disabled_reason || ''}` : 'active';
          box.append(el('p', {}, el('code', { text: e.url }), el('span', { class: 'meta', text: ` · ${e.events.join(', ')} · ${state}` })));
          const log = await api('GET', `/tokens/${t.id}/webhooks/${e.id}/deliveries`);
          const rows = log.map((d) => el('tr', {},
            el('td', { text: d.event_type }), el('td', { text: d.status }), el('td', { text: String(d.attempts) }),
            el('td', { text: d.last_status ? String(d.last_status) : (d.last_error || '') }),
            el('td', { text: fmtDate(d.delivered_at || d.last_attempt_at || d.created_at) })));
          box.append(el('table', { class: 'webhook-log' },
            el('thead', {}, el('tr', {}, ...['Event', 'Status', 'Attempts', 'Last answer', 'When'].map((h) => el('th', { text: h })))),
            el('tbody', {}, ...rows)));
        }
      } catch (err) { showError(err); }
    });
    return box;
  };
  const loadTokens = async () => {
    const list = $('#tokens');
    const tokens = await api('GET', '/tokens');
    list.replaceChildren();
    for (const t of tokens.filter((t) => !t.revoked_at)) {
      list.append(el('li', {},
        el('span', {}, el('strong', { text: t.name }), el('span', { class: 'meta', text: ` · ${t.prefix}… · created ${fmtDate(t.created_at)}${t.last_used_at ? ' · last used ' + fmtDate(t.last_used_at) : ''}` })),
        el('button', { type: 'button', text: 'Revoke', 'aria-label': `Revoke token ${t.name}`, onclick: async () => {
          try { await api('DELETE', '/tokens/' + t.id); $('#token-created').hidden = true; await loadTokens(); } catch (err) { showError(err); }
        } }),
        webhookLog(t)));
    }
  };
  onSubmit($('#token-form'), async (f) => {
    const created = await api('POST', '/tokens', { name: f.get('name') });
    $('#token-value').textContent = created.token;
    $('#token-created').hidden = false;
    $('#token-form').reset();
    await loadTokens();
  });
  const showProfile = (me) => {
    $('#p-name').textContent = me.display_name;
    $('#p-username').textContent = me.username;
    $('#p-email').textContent = me.email;
    $('#p-since').textContent = fmtDate(me.created_at);
    $('#display-name').value = me.display_name;
    $('#username').value = me.username;
    const nav = $('header a[href="/account"]');
    if (nav) nav.title = `Signed in as ${me.display_name}`;
  };

  onSubmit($('#profile-form'), async (f) => {
    showProfile(await api('PATCH', '/me', { display_name: f.get('display_name') }));
    return 'Your name is saved.';
  }, {
    fields: { [E.ACCOUNT_INVALID_DISPLAY_NAME]: 'display_name' },
  });

  onSubmit($('#username-form'), async (f) => {
    showProfile(await api('PUT', '/me/username', { username: f.get('username') }));
    return 'Your username is saved.';
  }, {
    fields: { [E.ACCOUNT_USERNAME_TAKEN]: 'username', [E.AUTH_INVALID_USERNAME]: 'username', [E.AUTH_RESERVED_USERNAME]: 'username' },
    messages: { [E.ACCOUNT_USERNAME_TAKEN]: 'Someone else has that username.' },
  });

  // The account's whole transfer log (P-TP-4), scripts written from a topic included.
  const loadTransfers = async () => {
    const list = $('#transfers');
    const transfers = await api('GET', '/me/transfers?limit=100');
    list.replaceChildren(...(transfers.length ? transfers.map((t) => el('li', {},
      el('span', {}, el('strong', { text: `${t.provider} · ${t.purpose}` }),
        el('span', { class: 'meta', text: ` · ${fmtDate(t.created_at)} · ${t.status}${t.job_id ? '' : ' · no creation'} · sent ${Object.keys(t.sent || {}).join(', ')}` })))) :
      [el('li', { class: 'meta', text: 'Nothing of yours has been sent to an AI provider.' })]));
  };

  onSubmit($('#password-form'), async (f) => {
    await api('POST', '/me/password', { current_password: f.get('current_password'), new_password: f.get('new_password') });
    $('#password-form').reset();
    await loadSessions().catch(showError);
    return 'Your password is changed. Every other session is signed out.';
  }, {
    fields: {
      [E.AUTH_INVALID_CREDENTIALS]: 'current_password', [E.AUTH_WEAK_PASSWORD]: 'new_password',
      [E.AUTH_PASSWORD_TOO_LONG]: 'new_password',
    },
    messages: { [E.AUTH_INVALID_CREDENTIALS]: 'The current password is wrong.' },
  });

  // A pending email change survives a reload of this tab, so the code can still be entered.
  const verifyForm = $('#email-verify-form');
  const awaitCode = (address) => {
    verifyForm.hidden = false;
    $('#email-code-help').textContent = `Six digits, sent to ${address}; valid for 15 minutes.`;
  };
  const pending = sessionStorage.getItem(PENDING);
  if (pending) awaitCode(pending);

  onSubmit($('#email-form'), async (f) => {
    const address = String(f.get('new_email')).trim();
    await api('POST', '/me/email', { new_email: address, password: f.get('password') });
    sessionStorage.setItem(PENDING, address);
    $('#email-form').reset();
    awaitCode(address);
    $('#email-code').focus();
    return `We sent a code to ${address}. Enter it below; your email address stays the same until then.`;
  }, {
    fields: {
      [E.AUTH_INVALID_CREDENTIALS]: 'password', [E.ACCOUNT_EMAIL_TAKEN]: 'new_email',
      [E.ACCOUNT_EMAIL_UNCHANGED]: 'new_email', [E.AUTH_INVALID_EMAIL]: 'new_email',
    },
    messages: {
      [E.AUTH_INVALID_CREDENTIALS]: 'The current password is wrong.',
      [E.ACCOUNT_EMAIL_TAKEN]: 'Another account uses that email address.',
      [E.ACCOUNT_EMAIL_UNCHANGED]: 'That is already your email address.',
    },
  });

  onSubmit(verifyForm, async (f) => {
    const me = await api('POST', '/me/email/verify', { code: String(f.get('code')).trim() });
    sessionStorage.removeItem(PENDING);
    showProfile(me);
    verifyForm.reset();
    verifyForm.hidden = true;
    $('#email-form [role=status]').textContent = `Your email address is now ${me.email}.`;
    $('#p-email').focus();
    return '';
  }, {
    fields: {
      [E.AUTH_CODE_INVALID]: 'code', [E.AUTH_CODE_EXPIRED]: 'code', [E.AUTH_CODE_ATTEMPTS_EXHAUSTED]: 'code',
    },
    messages: {
      [E.AUTH_CODE_INVALID]: 'That code is wrong. Check the newest email and try again.',
      [E.AUTH_CODE_EXPIRED]: 'That code has expired. Send a new one with the form above.',
      [E.AUTH_CODE_ATTEMPTS_EXHAUSTED]: 'Too many wrong codes. Send a new one with the form above.',
      [E.ACCOUNT_EMAIL_TAKEN]: 'Another account took that email address meanwhile.',
    },
  });

  // Pause processing (P-RIGHTS-4).
  const showPaused = accountSwitch('#processing-paused', 'processing_paused',
    (on) => api('PUT', '/me/processing', { paused: on }),
    'Processing is paused. Queued creations wait until you resume.',
    'Processing is on again. Queued creations will start.');

  // Delete account (P-RET-4): the password again and an explicit confirmation.
  onSubmit($('#delete-form'), async (f) => {
    if (!f.get('confirm')) {
      const err = new Error('Tick the box to confirm that you want to delete your account.');
      err.code = 'account.deletion_unconfirmed';
      throw err;
    }
    const done = await api('DELETE', '/me', { password: f.get('password') });
    sessionStorage.removeItem(PENDING);
    location.assign('/signin?deleted=' + encodeURIComponent(done.purge_by));
    return 'Your account is deleted.';
  }, {
    fields: { [E.AUTH_INVALID_CREDENTIALS]: 'password', 'account.deletion_unconfirmed': 'confirm' },
    messages: { [E.AUTH_INVALID_CREDENTIALS]: 'The password is wrong. Nothing was deleted.' },
  });

  // The "creation is ready" email (P-COMM-1: transactional, and only when asked for).
  const showNotify = accountSwitch('#notify-job-finished', 'notify_job_finished',
    (on) => api('PUT', '/me/notifications', { job_finished: on }),
    'You will get an email when a creation is ready.', 'No emails about finished creations.');

  // Product news (P-COMM-1): opt-in.
  const showMarketing = accountSwitch('#marketing-opt-in', 'marketing_opt_in',
    (on) => api('PUT', '/me/marketing', { opt_in: on }),
    'You will get product news by email.', 'No more product news.');

  // Export (P-RIGHTS-1): ask for an archive, then poll until its link is ready.
  const exportsList = $('#exports');
  const loadExports = async () => {
    const { items } = await api('GET', '/me/exports');
    exportsList.replaceChildren(...items.map((x) => {
      const li = el('li', {}, el('span', {}, `Archive of ${fmtDate(x.created_at)}: `));
      if (x.download_url) {
        li.append(el('a', { href: x.download_url, download: '' }, 'Download'),
          el('span', { class: 'muted' }, ` (link works until ${fmtDate(x.expires_at)})`));
      } else {
        li.append(el('span', { class: 'muted' }, x.status === 'building' ? 'being prepared…' : x.status));
      }
      return li;
    }));
    return items;
  };
  let exportPoll = null;
  const pollExports = () => {
    clearTimeout(exportPoll);
    exportPoll = setTimeout(async () => {
      try {
        const items = await loadExports();
        if (items.some((x) => x.status === 'building')) pollExports();
      } catch (err) { showError(err, $('#export-form [role=alert]')); }
    }, 1000);
  };
  onSubmit($('#export-form'), async () => {
    await api('POST', '/me/exports');
    await loadExports();
    pollExports();
    return 'Your archive is being prepared. Its download link appears below when it is ready.';
  }, { messages: { [E.EXPORT_IN_PROGRESS]: 'An archive is already being prepared; its link appears below.' } });

  const loadAcceptances = async () => {
    const { accepted } = await api('GET', '/me/policies');
    const name = { privacy: 'Privacy notice', terms: 'Terms of use' };
    $('#policy-acceptances').replaceChildren(...accepted.map((a) =>
      el('li', {}, `${name[a.kind] || a.kind} version ${a.version}, accepted ${fmtDate(a.accepted_at)}`)));
  };

  try {
    const me = await api('GET', '/me');
    showProfile(me);
    showPaused(me);
    showMarketing(me);
    showNotify(me);
    await Promise.all([loadSessions(), loadTokens(), loadTransfers(), loadAcceptances(), loadExports().then((items) => {
      if (items.some((x) => x.status === 'building')) pollExports();
    })]);
  } catch (err) { showError(err); }
}

/** An Account page switch that saves at once (its form's alert and status show the outcome; on
 *  failure it flips back). `save(on)` answers the profile, whose `field` it shows. Returns the
 *  function that shows a profile's state. */
function accountSwitch(selector, field, save, onText, offText) {
  const input = $(selector);
  const form = input.form;
  const show = (me) => { input.checked = !!me[field]; };
  form.addEventListener('submit', (e) => e.preventDefault());
  input.addEventListener('change', async () => {
    const want = input.checked;
    const errorBox = form.querySelector('[role=alert]');
    const statusBox = form.querySelector('[role=status]');
    showError(null, errorBox);
    statusBox.textContent = '';
    input.disabled = true;
    try {
      show(await save(want));
      statusBox.textContent = want ? onText : offText;
    } catch (err) {
      input.checked = !want;
      showError(err, errorBox);
    } finally {
      input.disabled = false;
      input.focus();
    }
  });
  return show;
}

// A material change of the privacy notice or the terms waits for the person's acceptance
// (P-COMM-2): the notice shows on every page until they accept.
async function setupPolicyNotice() {
  const box = $('#policy-notice');
  if (!box) return;
  let pending = [];
  try { ({ pending } = await api('GET', '/me/policies')); } catch { return; }
  if (!pending.length) return;
  const name = { privacy: 'privacy notice', terms: 'terms of use' };
  $('#policy-notice-list').replaceChildren(...pending.map((p) => el('li', {},
    el('a', { href: p.url }, `The ${name[p.kind] || p.kind}, version ${p.version}`),
    el('span', {}, p.summary ? `: ${p.summary}` : ''))));
  box.hidden = false;
  $('#policy-accept').addEventListener('click', async () => {
    const errorBox = box.querySelector('[role=alert]');
    showError(null, errorBox);
    try {
      for (const p of pending) await api('POST', '/me/policies/accept', { kind: p.kind, version: p.version });
      box.hidden = true;
      const acceptances = $('#policy-acceptances');
      if (acceptances) location.reload();
    } catch (err) { showError(err, errorBox); }
  });
}

// ---- everywhere ----

function setupSignout() {
  const button = $('#signout');
  if (!button) return;
  button.addEventListener('click', async () => {
    sessionStorage.removeItem(PENDING);
    try { await api('POST', '/auth/logout'); } catch { /* signed out anyway */ }
    location.assign('/');
  });
}

const PAGES = {
  signup: setupSignup, verify: setupVerify, signin: setupSignin, forgot: setupForgot, reset: setupReset,
  create: setupCreate, creations: setupCreations, account: setupAccount,
  providers: setupProviders, credits: setupCredits, uploads: setupUploads,
};

document.addEventListener('DOMContentLoaded', () => {
  setupSignout();
  setupPolicyNotice();
  const page = document.body.dataset.page;
  if (page === 'creations' && $('#job')) setupJob();
  else if (PAGES[page]) PAGES[page]();
});

// ---- Voices and music (issue 17) ----

/** Fills the voice picker from the catalogue and the music chooser from the library; wires the
 *  sample and preview players, the music upload and the level slider. Returns what the spec needs. */
function setupSound(form, changed) {
  const voiceSelect = $('#tts-voice', form);
  const play = (audio, url) => { audio.src = url; audio.hidden = false; audio.controls = true; audio.play().catch(() => {}); };
  if (voiceSelect) {
    api('GET', '/voices').then(({ voices }) => {
      const current = voiceSelect.value;
      voiceSelect.replaceChildren(...voices.map((v) => el('option', voiceOption(v))));
      if (voices.some((v) => v.id === current)) voiceSelect.value = current;
    }).catch(() => {});
    const button = $('#voice-play', form);
    if (button) button.hidden = false;
    if (button) button.addEventListener('click', () => play($('#voice-audio', form), `/api/v1/voices/${encodeURIComponent(voiceSelect.value)}/sample`));
  }
  const level = $('#music-level', form);
  if (level) level.addEventListener('input', () => { $('#music-level-out', form).textContent = level.value.replace('-', '−'); });
  for (const id of ['pitch']) {
    const input = $('#' + id, form);
    if (input) input.addEventListener('input', () => { $('#' + id + '-out', form).textContent = input.value; });
  }
  const select = $('#music', form);
  if (!select) return { spec: () => ({}), uploads: () => [] };
  const previews = new Map();
  const previewButton = $('#music-play', form);
  const showPreview = () => { previewButton.hidden = !previews.has(select.value); };
  api('GET', '/music').then(({ tracks }) => {
    for (const t of tracks) {
      previews.set(t.id, t.preview_url);
      select.append(el('option', { value: t.id, text: `${t.title} (${Math.round(t.duration_seconds)} s)` }));
    }
    showPreview();
  }).catch(() => {});
  select.addEventListener('change', showPreview);
  previewButton.addEventListener('click', () => play($('#music-audio', form), previews.get(select.value)));
  const uploads = setupDrop($('#music-drop'), $('#music-input'), $('#music-list'), { multiple: false, onChange: changed });
  return {
    uploads: () => uploads,
    spec: () => {
      const own = uploads.find((i) => i.id);
      const chosen = own ? own.id : select.value;
      return chosen ? { music: chosen, music_level: Number(level.value) } : {};
    },
  };
}

/** A catalogue voice as a picker option: cloud voices name their company, price per 1000
 *  characters and whether the script may be sent there yet (the quote asks for consent). */
const CLOUD_NAMES = { openai: 'OpenAI', elevenlabs: 'ElevenLabs' };
function voiceOption(v) {
  const gender = v.gender ? ' · ' + v.gender : '';
  if (v.local) return { value: v.id, text: `${v.name}${gender}${v.price_credits ? ` · ${v.price_credits} credits` : ' · free'}` };
  const company = CLOUD_NAMES[v.provider] || v.provider;
  const consent = v.consent === 'granted' ? '' : ' · needs your consent';
  return {
    value: v.id, 'data-provider': v.provider, 'data-consent': v.consent, 'data-company': company,
    text: `${v.name} (${company}, ${v.language})${gender} · ${v.credits_per_1000_chars} credits per 1000 characters${consent}`,
  };
}

/** The finished mix's measured loudness, from the job's usage. */
function showLoudness(node, job) {
  const l = job.usage && job.usage.loudness;
  if (!node) return;
  node.hidden = !l;
  if (!l) return;
  const music = job.usage.music ? ` · music at ${job.usage.music.level_db} dB, ducked ${l.ducking_db} dB under the voice` : '';
  node.textContent = `Sound: ${l.integrated_lufs.toFixed(1)} LUFS (target ${l.target_lufs}), true peak ${l.true_peak_dbtp.toFixed(1)} dBTP${music}`;
}
