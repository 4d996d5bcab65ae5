// Sharing and safety in the browser (issue 19): the report form on public pages, the owner's
// "Share and publish" section on a creation's page, and the moderation queue's buttons.
// Plain fetch against /api/v1, like app.js; every text is set with textContent.
'use strict';

(() => {
  const q = (sel, root = document) => root.querySelector(sel);

  async function call(method, path, body) {
    const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch('/api/v1' + path, init);
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!res.ok) {
      const err = new Error((data && data.detail) || `the server answered ${res.status}`);
      err.code = data && data.code;
      throw err;
    }
    return data;
  }

  function say(box, text) {
    if (!box) return;
    box.textContent = text || '';
    box.hidden = !text;
  }

  // Reports, on a shared video's page and on a public work's page.
  function setupReport() {
    const form = q('.report-form');
    if (!form) return;
    const holder = form.closest('[data-report-job],[data-report-share]');
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = { reason: form.reason.value, detail: form.detail.value };
      if (holder.dataset.reportJob) body.job_id = holder.dataset.reportJob;
      else body.share_token = holder.dataset.reportShare;
      say(q('.error', form), '');
      try {
        await call('POST', '/reports', body);
        q('.success', form).textContent = 'Thank you: a moderator will look at it.';
        form.querySelector('button').disabled = true;
      } catch (err) {
        say(q('.error', form), err.message);
      }
    });
  }

  // The owner's section on a creation's page.
  function setupOwner() {
    const section = q('#sharing-section');
    const job = q('#job');
    if (!section || !job) return;
    const id = job.dataset.jobId;
    const err = q('#sharing-error');

    async function loadPublication() {
      const p = await call('GET', `/jobs/${id}/publication`);
      const status = q('#publication-status');
      const takedown = q('#takedown-notice');
      if (p.takedown) {
        takedown.hidden = false;
        q('#takedown-reason').textContent = p.takedown.reason;
      } else {
        takedown.hidden = true;
      }
      q('#held-notice').hidden = !p.held_for_review;
      if (p.published) {
        status.textContent = '';
        status.append('Published as “' + p.title + '”. ');
        if (p.url) {
          const a = document.createElement('a');
          a.href = p.url; a.textContent = 'See it in Discover'; a.id = 'publication-link';
          status.append(a);
        }
        q('#unpublish').hidden = false;
        q('#publish-title').value = p.title;
        for (const k of ['prompt', 'engine', 'model', 'length']) q('#show-' + k).checked = p['show_' + k];
      } else {
        status.textContent = 'Not published: only you can see it.';
        q('#unpublish').hidden = true;
      }
    }

    async function loadShares() {
      const list = q('#share-links');
      const links = await call('GET', `/jobs/${id}/shares`);
      list.textContent = '';
      for (const l of links) {
        const li = document.createElement('li');
        li.dataset.share = l.id;
        const what = l.revision ? `revision ${l.revision}` : 'latest revision';
        const until = l.expires_at ? `, until ${l.expires_at.slice(0, 10)}` : '';
        li.append(`${l.state} · ${what}${until} · ${l.views} views `);
        if (l.state === 'active') {
          const b = document.createElement('button');
          b.type = 'button'; b.textContent = 'Revoke'; b.className = 'revoke-share';
          b.addEventListener('click', async () => {
            try { await call('DELETE', `/jobs/${id}/shares/${l.id}`); await loadShares(); } catch (e) { say(err, e.message); }
          });
          li.append(b);
        }
        list.append(li);
      }
    }

    q('#publish-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      say(err, '');
      const body = { title: q('#publish-title').value };
      for (const k of ['prompt', 'engine', 'model', 'length']) body['show_' + k] = q('#show-' + k).checked;
      try { await call('PUT', `/jobs/${id}/publication`, body); await loadPublication(); } catch (e) { say(err, e.message); }
    });
    q('#unpublish').addEventListener('click', async () => {
      say(err, '');
      try { await call('DELETE', `/jobs/${id}/publication`); await loadPublication(); } catch (e) { say(err, e.message); }
    });
    q('#share-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      say(err, '');
      const days = q('#share-days').value;
      const body = {};
      if (days) body.expires_in_days = Number(days);
      try {
        const link = await call('POST', `/jobs/${id}/shares`, body);
        const out = q('#share-url');
        out.value = link.url;
        q('#share-created').hidden = false;
        await loadShares();
      } catch (e) { say(err, e.message); }
    });

    // The section is for finished creations; the rest of the page shows progress.
    const poll = async () => {
      try {
        const j = await call('GET', `/jobs/${id}`);
        const finished = j.status === 'succeeded' || (await call('GET', `/jobs/${id}/revisions`)).some((r) => r.status === 'succeeded');
        section.hidden = false;
        q('#sharing-controls').hidden = !finished;
        await loadPublication();
        if (finished) await loadShares();
        else setTimeout(poll, 2000);
      } catch (e) { say(err, e.message); }
    };
    poll();
  }

  // The moderation queue.
  function setupModeration() {
    const page = q('#held') && q('#reported');
    if (!page) return;
    const err = q('#moderation-error');
    document.addEventListener('click', async (ev) => {
      const b = ev.target.closest('button[data-action]');
      if (!b) return;
      const card = b.closest('[data-job]');
      const job = card.dataset.job;
      const reasonBox = q('.takedown-reason', card);
      const reason = reasonBox ? reasonBox.value : '';
      say(err, '');
      try {
        const action = b.dataset.action;
        if (action === 'approve') await call('POST', `/moderation/jobs/${job}/approve`);
        else if (action === 'refuse') await call('POST', `/moderation/jobs/${job}/refuse`);
        else if (action === 'takedown') await call('POST', `/moderation/jobs/${job}/takedown`, { reason });
        else if (action === 'ban') {
          await call('POST', `/moderation/users/${encodeURIComponent(card.dataset.owner)}/ban`, { reason });
          await call('POST', `/moderation/jobs/${job}/takedown`, { reason });
        }
        q('#moderation-status').textContent = 'Done.';
        card.remove();
      } catch (e) { say(err, e.message); }
    });
  }

  // The avatar on the account page: the picture goes through the uploads API, which cleans it
  // like every upload (metadata removed, re-encoded), then becomes the profile's avatar.
  function setupAvatar() {
    const form = q('#avatar-form');
    if (!form) return;
    const img = q('#avatar-preview');
    const err = q('.error', form);
    const status = q('[role=status]', form);
    const remove = q('#avatar-remove');
    let username = null;
    const show = (has) => {
      img.hidden = !has;
      remove.hidden = !has;
      if (has && username) img.src = `/api/v1/profiles/${encodeURIComponent(username)}/avatar?v=${Date.now()}`;
    };
    // The profile says whether there is an avatar; probing the picture itself would log a 404
    // in the console of everyone who has none.
    call('GET', '/me').then(async (me) => {
      username = me.username;
      const profile = await call('GET', `/profiles/${encodeURIComponent(username)}`);
      show(Boolean(profile && profile.avatar_url));
    }).catch(() => {});
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      say(err, '');
      status.textContent = '';
      const file = q('#avatar-file', form).files[0];
      if (!file) { say(err, 'Choose a picture first.'); return; }
      try {
        const fd = new FormData();
        fd.append('file', file, file.name);
        const res = await fetch('/api/v1/uploads', { method: 'POST', body: fd, credentials: 'same-origin', headers: { Accept: 'application/json' } });
        const up = await res.json().catch(() => null);
        if (!res.ok) throw new Error((up && up.detail) || `the server answered ${res.status}`);
        await call('PUT', '/me/avatar', { upload_id: up.id });
        status.textContent = 'Avatar saved.';
        show(true);
      } catch (e) { say(err, e.message); }
    });
    remove.addEventListener('click', async () => {
      say(err, '');
      try {
        await call('PUT', '/me/avatar', { upload_id: null });
        status.textContent = 'Avatar removed.';
        show(false);
      } catch (e) { say(err, e.message); }
    });
  }

  document.addEventListener('DOMContentLoaded', () => {
    setupReport();
    setupOwner();
    setupModeration();
    setupAvatar();
  });
})();
