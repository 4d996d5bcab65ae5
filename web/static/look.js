// The look of a video (issue 25): its transition, the background of scenes without a picture and
// the caption style, with a live still drawn by the server's own renderer
// (POST /api/v1/preview/frame), so what the preview shows is what the render burns in.
// Loaded after app.js on the pages that include settings.html; app.js's readSpec and fillSpec
// call readLook and fillLook.
'use strict';

/** The caption style fields: element id → spec field, and how a value is read and written. */
const CAPTION_FIELDS = [
  ['caption-font', 'font', 'text'],
  ['caption-size', 'size', 'number'],
  ['caption-colour', 'colour', 'text'],
  ['caption-outline-colour', 'outline_colour', 'text'],
  ['caption-outline-width', 'outline_width', 'number'],
  ['caption-background', 'background', 'bool'],
  ['caption-position', 'position', 'text'],
  ['caption-words', 'words_per_line', 'number'],
  ['caption-highlight', 'highlight_colour', 'text'],
];

/** The look part of a job's spec, read from the form; a field left at "" is the default. */
function readLook(form) {
  const look = {};
  const transition = $('#transition', form);
  if (!transition) return look;
  look.transition = transition.value;
  look.title_background = $('#title-background', form).value;
  const style = {};
  for (const [id, key, kind] of CAPTION_FIELDS) {
    const input = $('#' + id, form);
    if (!input) continue;
    if (kind === 'bool') { if (input.checked) style[key] = true; continue; }
    // A field never touched keeps the renderer's default: only a changed value is sent.
    if (input.value === '' || input.dataset.touched !== 'yes') continue;
    style[key] = kind === 'number' ? Number(input.value) : input.value;
  }
  look.caption_style = style;
  return look;
}

/** Shows a stored spec's look in the form (the revision form, a preset). */
function fillLook(form, spec) {
  if (!$('#transition', form)) return;
  if (spec.transition) $('#transition', form).value = spec.transition;
  if (spec.title_background) $('#title-background', form).value = spec.title_background;
  const style = spec.caption_style || {};
  for (const [id, key, kind] of CAPTION_FIELDS) {
    const input = $('#' + id, form);
    if (!input || style[key] === undefined) continue;
    if (kind === 'bool') input.checked = Boolean(style[key]);
    else {
      if (input.tagName === 'SELECT' && ![...input.options].some((o) => o.value === String(style[key]))) {
        input.append(el('option', { value: String(style[key]), text: `${style[key]} (not installed now)` }));
      }
      input.value = String(style[key]);
      input.dataset.touched = 'yes';
    }
  }
}

/** The sample the preview captions show: the script's first sentence, else a stock line. */
function previewText(form) {
  const script = ($('#script', form) || { value: '' }).value.trim();
  const first = script.split(/(?<=[.!?])\s+/)[0] || '';
  return (first || 'Your captions will look like this.').slice(0, 300);
}

/** Draws the preview whenever a look setting changes (at most one request in flight, the last
 *  change wins) and fills the font list from the fonts installed on the server. */
function setupLook(form) {
  const box = $('#look-preview', form);
  if (!box) return;
  const img = $('img', box);
  const status = $('#look-preview-status', form);
  const fonts = $('#caption-font', form);
  api('GET', '/fonts').then((list) => {
    for (const f of list.fonts) fonts.append(el('option', { value: f, text: f }));
  }).catch(() => {});
  let timer = null;
  let shown = null;
  let seq = 0;
  const draw = async () => {
    const mine = ++seq;
    const spec = {
      script: previewText(form),
      aspect: $('#aspect', form).value,
      style: $('#style', form).value,
      captions: $('#captions', form).value,
      ...readLook(form),
    };
    status.textContent = 'Drawing the preview…';
    try {
      const res = await fetch('/api/v1/preview/frame', {
        method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', Accept: 'image/png' },
        body: JSON.stringify({ spec, time: 1.0 }),
      });
      if (mine !== seq) return;
      if (!res.ok) {
        const data = await res.json().catch(() => null);
        status.textContent = sentence((data && data.detail) || `The preview could not be drawn (${res.status}).`);
        box.dataset.state = 'error';
        return;
      }
      const url = URL.createObjectURL(await res.blob());
      if (shown) URL.revokeObjectURL(shown);
      shown = url;
      img.src = url;
      img.hidden = false;
      box.dataset.state = 'ready';
      status.textContent = 'Preview of one frame, drawn by the renderer with these settings.';
    } catch (err) {
      if (mine === seq) status.textContent = 'The preview could not be drawn: ' + (err.message || err);
    }
  };
  const schedule = () => { clearTimeout(timer); timer = setTimeout(draw, 350); };
  for (const [id] of CAPTION_FIELDS) {
    const input = $('#' + id, form);
    if (!input) continue;
    input.addEventListener('input', () => { input.dataset.touched = 'yes'; schedule(); });
    input.addEventListener('change', () => { input.dataset.touched = 'yes'; schedule(); });
  }
  for (const id of ['transition', 'title-background', 'aspect', 'style', 'captions']) {
    const input = $('#' + id, form);
    if (input) input.addEventListener('change', schedule);
  }
  $('#look-preview-draw', form).addEventListener('click', draw);
  const details = $('#look-details', form);
  // Drawn when first opened, not on every page load: a frame costs the server tens of milliseconds.
  if (details) details.addEventListener('toggle', () => { if (details.open && !shown) draw(); });
}

document.addEventListener('DOMContentLoaded', () => {
  for (const form of document.querySelectorAll('form')) if ($('#look-preview', form)) setupLook(form);
});
