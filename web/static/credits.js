// The job page's credits (issue 25): the attribution every stock and library picture of the
// video asks for, read from GET /api/v1/jobs/{id} (`credits`), with the link to the video's
// description file that repeats them, and a link to the storyboard it was rendered from. Uses app.js's helpers (api, el); text via textContent.
'use strict';

document.addEventListener('DOMContentLoaded', async () => {
  const root = document.querySelector('#job');
  const section = document.querySelector('#credits-section');
  if (!root || !section) return;
  const id = root.dataset.jobId;
  const link = document.querySelector('#dl-description');
  if (link) link.href = `/api/v1/jobs/${encodeURIComponent(id)}/description.txt`;
  try {
    const job = await api('GET', `/jobs/${encodeURIComponent(id)}`);
    const list = document.querySelector('#job-credits');
    list.replaceChildren();
    for (const c of job.credits || []) {
      const item = el('li', {});
      item.append(c.source_url ? el('a', { href: c.source_url, rel: 'noopener', target: '_blank', text: c.text }) : c.text);
      if (c.author_url) item.append(' · ', el('a', { href: c.author_url, rel: 'noopener', target: '_blank', text: c.author }));
      item.append(el('span', { class: 'help', text: ` · ${c.licence}` }));
      list.append(item);
    }
    section.hidden = !(job.credits || []).length;
    const storyboard = document.querySelector('#storyboard-link');
    if (storyboard) storyboard.hidden = !job.storyboard;
  } catch (_) { /* the page's own loader shows errors */ }
});
