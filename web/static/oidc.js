// Sign-in with identity providers (P-ACC-4): the buttons on the sign-in page, the follow-up page
// after a first sign-in, and the linked providers on the Account page. Uses app.js's helpers
// (loaded first: both scripts are deferred, so they run in order).
'use strict';

const OIDC_ERRORS = {
  [E.OIDC_STATE_INVALID]: 'That sign-in was not started here, was already used or took too long. Please try again.',
  [E.OIDC_EMAIL_UNVERIFIED]: 'The identity provider has not verified your email address. Verify it there, then try again.',
  [E.OIDC_IDENTITY_TAKEN]: 'That account at the identity provider is already linked to another account here.',
  [E.OIDC_ACCOUNT_UNAVAILABLE]: 'The account with this address has been deleted.',
};

async function oidcSignin() {
  const form = $('#signin-form');
  const code = params().get('oidc_error');
  if (code) showError(new Error(OIDC_ERRORS[code] || `The identity provider sign-in failed (${code}). Please try again.`));
  const providers = await api('GET', '/auth/oidc/providers');
  if (!form || !providers.length) return;
  const list = el('ul', { class: 'stack oidc-providers' });
  for (const p of providers) {
    list.append(el('li', {}, el('a', { class: 'button', href: p.start_url }, `Continue with ${p.name}`)));
  }
  form.after(el('section', { 'aria-labelledby': 'oidc-h' }, el('h2', { id: 'oidc-h' }, 'Or sign in with'), list));
}

async function oidcFinish() {
  let step;
  try { step = await api('GET', '/auth/oidc/pending'); } catch { $('#oidc-missing').hidden = false; return; }
  for (const n of document.querySelectorAll('.oidc-email')) n.textContent = step.email;
  for (const n of document.querySelectorAll('.oidc-provider')) n.textContent = step.provider_name;
  if (step.action === 'link') {
    const form = $('#oidc-link-form');
    form.hidden = false;
    $('#oidc-link-email').value = step.email;
    $('#oidc-link-password').focus();
    onSubmit(form, async (f) => {
      await api('POST', '/auth/login', { email: f.get('email'), password: f.get('password') });
      await api('POST', '/auth/oidc/link');
      location.assign('/account');
    });
    return;
  }
  const form = $('#oidc-signup-form');
  form.hidden = false;
  $('#oidc-username').focus();
  onSubmit(form, async (f) => {
    await api('POST', '/auth/oidc/signup', {
      username: f.get('username'), age_confirmed: $('#oidc-age').checked,
      accept_policies: $('#oidc-policies').checked,
      display_name: step.display_name || undefined,
    });
    location.assign('/create?welcome=1');
  }, { fields: { [E.ACCOUNT_USERNAME_TAKEN]: 'username', [E.AUTH_INVALID_USERNAME]: 'username' } });
}

async function oidcAccount() {
  const anchor = document.querySelector('section[aria-labelledby=sessions-h]');
  const [providers, identities] = await Promise.all([api('GET', '/auth/oidc/providers'), api('GET', '/me/identities')]);
  if (!anchor || (!providers.length && !identities.length)) return;
  const list = el('ul', { class: 'stack', id: 'identity-list' });
  const error = el('p', { class: 'error', role: 'alert', hidden: '' });
  const section = el('section', { 'aria-labelledby': 'identities-h', id: 'identities' },
    el('h2', { id: 'identities-h' }, 'Sign-in providers'),
    el('p', {}, 'Providers you can sign in with besides your password.'), list, error);
  for (const i of identities) {
    const button = el('button', { type: 'button' }, `Unlink ${i.provider_name}`);
    button.addEventListener('click', async () => {
      showError(null, error);
      try { await api('DELETE', `/me/identities/${encodeURIComponent(i.id)}`); location.reload(); } catch (err) { showError(err, error); }
    });
    list.append(el('li', {}, `${i.provider_name} (${i.email}), linked ${fmtDate(i.linked_at)} `, button));
  }
  const linked = new Set(identities.map((i) => i.provider));
  for (const p of providers.filter((p) => !linked.has(p.id))) {
    list.append(el('li', {}, el('a', { class: 'button', href: `${p.start_url}?link=true` }, `Link ${p.name}`)));
  }
  anchor.before(section);
}

document.addEventListener('DOMContentLoaded', () => {
  const page = document.body.dataset.page;
  const run = { signin: oidcSignin, 'oidc-finish': oidcFinish, account: oidcAccount }[page];
  if (run) run().catch((err) => console.error(err));
});
