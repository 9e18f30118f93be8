// « Pro Santé Connect »: while an e-CPS request waits on the practitioner's
// phone, asks the web admin every 2 s where it stands (GET /psc/state) and
// shows the outcome in place, so nobody has to reload the page. Served as a
// file (the Content-Security-Policy allows no inline script); without it
// the page says to reload, and works the same.
'use strict';
(() => {
  const EVERY = 2000;
  const panel = document.getElementById('psc-panel');
  const outcome = document.getElementById('psc-outcome');
  if (!panel || !outcome) return;

  const ask = async () => {
    try {
      const response = await fetch('/psc/state', {
        headers: { Accept: 'application/json' },
        cache: 'no-store',
        credentials: 'same-origin',
      });
      if (!(response.headers.get('content-type') || '').startsWith('application/json')) {
        // The session ended (the login page came back): the page leads there.
        window.location.assign('/psc');
        return null;
      }
      return await response.json();
    } catch {
      // The box is busy or restarting: asked again next time.
      return null;
    }
  };

  const follow = async () => {
    const answer = await ask();
    if (answer && answer.waiting === false && typeof answer.panel === 'string') {
      // The panel comes from the web admin, every value in it escaped.
      panel.innerHTML = answer.panel;
      outcome.className = answer.ok ? 'notice notice-info' : 'notice notice-error';
      outcome.textContent = answer.outcome;
      return;
    }
    if (answer && answer.waiting && answer.time_left) {
      const left = panel.querySelector('[data-field="approval-left"]');
      if (left) left.textContent = answer.time_left;
    }
    window.setTimeout(follow, EVERY);
  };

  window.setTimeout(follow, EVERY);
})();
