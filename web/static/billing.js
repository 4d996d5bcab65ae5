// Billing in the studio (issue 18): the buy buttons on the price list and the Billing page, the
// Billing page's plan, ledger and invoices, and the plan's limits beside the create page's cost.
// Uses app.js's helpers (api, el, fmtDate, showError); every text is set with textContent.
'use strict';

(() => {
  const money = (cents, currency) => `${cents < 0 ? '-' : ''}${(Math.abs(cents) / 100).toFixed(2)} ${String(currency).toUpperCase()}`;

  function limitsText(l) {
    const engines = l.providers.includes('*') ? 'every engine and provider' : `engines: ${l.providers.join(', ')}`;
    return [`up to ${l.max_resolution}`, `videos up to ${l.max_video_seconds} s`,
      `${l.concurrent_jobs} creation${l.concurrent_jobs === 1 ? '' : 's'} at once`, engines,
      l.watermark ? 'videos carry a watermark' : 'no watermark'].join(' · ');
  }

  // A buy button starts a hosted checkout and sends the browser to the processor's page. When
  // the processor cannot be reached the button says so and nothing is charged.
  function setupBuy() {
    for (const button of document.querySelectorAll('button[data-buy]')) {
      const label = button.textContent;
      button.addEventListener('click', async () => {
        showError(null);
        button.disabled = true;
        button.textContent = 'Opening the payment page…';
        try {
          const c = await api('POST', '/me/billing/checkout', { item: button.dataset.buy });
          location.assign(c.url);
        } catch (err) {
          button.disabled = false;
          button.textContent = err.code === E.BILLING_PROCESSOR_UNAVAILABLE
            ? 'Payments are unavailable right now: try again later' : label;
          showError(err);
        }
      });
    }
  }

  async function setupBilling() {
    const status = document.querySelector('#billing-status');
    const q = new URLSearchParams(location.search);
    if (q.get('checkout')) {
      status.textContent = q.get('cancelled') ? 'The payment was cancelled: nothing was charged.'
        : 'Thank you: your payment is recorded once the processor confirms it.';
    }
    const [mine, credits] = await Promise.all([api('GET', '/me/billing'), api('GET', '/me/credits?limit=10')]);
    document.querySelector('#plan-name').textContent = mine.plan.name;
    document.querySelector('#plan-status').textContent = mine.status.replace('_', ' ');
    document.querySelector('#plan-renewal').textContent = mine.period_end
      ? `${mine.cancel_at_period_end ? 'Ends' : mine.pending_plan ? `Changes to ${mine.pending_plan}` : 'Renews'} ${fmtDate(mine.period_end)}`
      : (mine.plan.kind === 'lifetime' ? 'Never: paid once' : 'Every month, free');
    document.querySelector('#plan-limits').textContent = limitsText(mine.plan.limits);
    document.querySelector('#balance').textContent = `${mine.balance} credit${mine.balance === 1 ? '' : 's'}`;
    const manage = document.querySelector('#manage');
    manage.hidden = !mine.can_manage;
    manage.addEventListener('click', async () => {
      try { location.assign((await api('POST', '/me/billing/portal')).url); } catch (err) { showError(err); }
    });
    const ledger = document.querySelector('#ledger tbody');
    for (const e of credits.ledger) {
      ledger.append(el('tr', { 'data-kind': e.kind }, el('td', { text: fmtDate(e.created_at), 'data-label': 'Date' }),
        el('td', { text: e.kind, 'data-label': 'Kind' }),
        el('td', { class: 'num', text: e.amount > 0 ? `+${e.amount}` : String(e.amount), 'data-label': 'Credits' }),
        el('td', { class: 'note', text: e.note, 'data-label': 'Note' })));
    }
    document.querySelector('#ledger-empty').hidden = credits.ledger.length > 0;
    const rows = document.querySelector('#payments tbody');
    for (const p of mine.payments) {
      const receipt = p.receipt_url ? el('a', { href: p.receipt_url, rel: 'noopener noreferrer', text: 'Receipt' }) : document.createTextNode('—');
      rows.append(el('tr', { 'data-payment': p.id }, el('td', { text: fmtDate(p.created_at), 'data-label': 'Date' }),
        el('td', { text: p.description || p.item, 'data-label': 'What' }),
        el('td', { class: 'num', text: money(p.amount_cents, p.currency), 'data-label': 'Amount' }),
        el('td', { class: 'num', text: p.tax_cents === null || p.tax_cents === undefined ? 'not reported' : money(p.tax_cents, p.currency), 'data-label': 'Tax' }),
        el('td', { class: 'num', text: String(p.credits), 'data-label': 'Credits' }),
        el('td', { text: p.refunded_cents ? `${money(p.refunded_cents, p.currency)} (${p.credits_taken_back} credits taken back)` : '—', 'data-label': 'Refunded' }),
        el('td', { 'data-label': 'Receipt' }, receipt)));
    }
    document.querySelector('#invoices-empty').hidden = mine.payments.length > 0;
    document.querySelector('#billing').setAttribute('aria-busy', 'false');
  }

  // The create page: the plan's limits beside the cost, from the same quote (app.js sends it).
  function setupPlanBesideCost() {
    const box = document.querySelector('#estimate-plan');
    if (!box) return;
    let quoted = false;
    api('GET', '/me/billing').then((m) => { if (!quoted) box.textContent = `${m.plan.name}: ${limitsText(m.plan.limits)}`; }).catch(() => {});
    document.addEventListener('reelsmith:quote', (ev) => {
      const q = ev.detail;
      quoted = true;
      box.textContent = `${q.plan}: ${limitsText(q.plan_limits)}`;
      const refusal = document.querySelector('#estimate-plan-refusal');
      refusal.textContent = q.plan_refusal_detail || '';
      refusal.hidden = !q.plan_refusal;
    });
  }

  document.addEventListener('DOMContentLoaded', () => {
    setupBuy();
    setupPlanBesideCost();
    if (document.body.dataset.page === 'billing') setupBilling().catch((err) => showError(err));
  });
})();
