// Reelsmith console and sign-in security: forms that call the admin API, the TOTP check that
// gives a session step-up, and TOTP enrolment. Loaded after app.js, whose `api`, `$`,
// `showError` and `el` it uses.
'use strict';

/** A form's fields as a JSON body: number inputs as numbers, empty fields left out. */
function formBody(form) {
  const body = {};
  for (const field of form.elements) {
    if (!field.name || field.disabled) continue;
    const value = field.value.trim();
    if (value === '') continue;
    body[field.name] = field.type === 'number' ? Number(value) : value;
  }
  return body;
}

function setupApiForms() {
  for (const form of document.querySelectorAll('form[data-api]')) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const errorBox = form.querySelector('.error');
      const okBox = form.querySelector('.success');
      showError(null, errorBox);
      if (form.dataset.confirm && !confirm(form.dataset.confirm)) return;
      const button = form.querySelector('button[type=submit]');
      if (button) button.disabled = true;
      try {
        await api(form.dataset.method || 'POST', '/admin' + form.dataset.api.replace(/^\/admin/, ''), formBody(form));
        if (okBox) okBox.textContent = 'Done.';
        location.reload();
      } catch (err) {
        // Step-up ran out while the page was open: confirm again, then come back.
        if (err.code === E.STAFF_STEP_UP_REQUIRED) {
          location.assign('/admin/verify?next=' + encodeURIComponent(location.pathname + location.search));
          return;
        }
        showError(err, errorBox);
      } finally {
        if (button) button.disabled = false;
      }
    });
  }
}

function setupStepUp() {
  const form = $('#stepup-form');
  if (!form) return;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const errorBox = form.querySelector('.error');
    showError(null, errorBox);
    try {
      await api('POST', '/me/totp/verify', formBody(form));
      location.assign(form.dataset.next || '/admin');
    } catch (err) {
      showError(err, errorBox);
      $('#totp-code').focus();
    }
  });
}

function setupSecurity() {
  const start = $('#totp-start');
  if (start) {
    start.addEventListener('click', async () => {
      showError(null);
      try {
        const enrolment = await api('POST', '/me/totp/enrol');
        $('#totp-qr').src = 'data:image/svg+xml;base64,' + btoa(enrolment.qr_svg);
        $('#totp-secret').textContent = enrolment.secret;
        $('#totp-setup').hidden = false;
        start.hidden = true;
        $('#confirm-code').focus();
      } catch (err) { showError(err); }
    });
  }
  const confirmForm = $('#totp-confirm');
  if (confirmForm) {
    confirmForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const errorBox = confirmForm.querySelector('.error');
      showError(null, errorBox);
      try {
        const done = await api('POST', '/me/totp/confirm', formBody(confirmForm));
        const list = $('#recovery-codes');
        for (const code of done.recovery_codes) list.append(el('li', {}, el('code', { text: code })));
        $('#totp-off').hidden = true;
        $('#recovery').hidden = false;
        $('#codes-h').focus();
      } catch (err) { showError(err, errorBox); }
    });
  }
  const disable = $('#totp-disable');
  if (disable) {
    disable.addEventListener('submit', async (event) => {
      event.preventDefault();
      const errorBox = disable.querySelector('.error');
      showError(null, errorBox);
      try {
        await api('DELETE', '/me/totp', formBody(disable));
        location.reload();
      } catch (err) { showError(err, errorBox); }
    });
  }
}

document.addEventListener('DOMContentLoaded', () => {
  setupApiForms();
  setupStepUp();
  setupSecurity();
});
