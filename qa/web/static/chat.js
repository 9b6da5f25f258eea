// release-qa page script: chips and passage cards open a passage in the sources panel (through the hidden
// #pick box), library rows open a release (#lib-pick) or restore one (#restore-pick), "Copy with citation"
// copies plain text, a new reply's top (and a refused question's reason) is brought into view, and a release view
// scrolls to its cited paragraph.
(() => {
  const idOf = (el, prefix) => ((el.className.match(new RegExp(prefix + '([0-9a-f]+)')) || [])[1] || '');
  const pick = (reply, n) => {
    const box = document.querySelector('#pick textarea, #pick input');
    if (!box || !reply) return;
    box.value = reply + ':' + n + ':' + Date.now();
    box.dispatchEvent(new Event('input', {bubbles: true}));
    const panel = document.querySelector('#sources');  // on a phone the panel is below the chat: bring it up
    if (panel && window.innerWidth <= 700 && n !== '0') setTimeout(() => panel.scrollIntoView({block: 'start'}), 400);
  };
  const copy = async (text, button) => {
    try { await navigator.clipboard.writeText(text); }
    catch (err) {
      const area = document.createElement('textarea');
      area.value = text; document.body.appendChild(area); area.select(); document.execCommand('copy'); area.remove();
    }
    window.__qaCopied = text;
    const label = button.textContent; button.textContent = 'Copied'; setTimeout(() => { button.textContent = label; }, 1500);
  };
  document.addEventListener('click', (event) => {
    const copyButton = event.target.closest('button.qa-copy');
    if (copyButton) {
      event.stopPropagation(); event.preventDefault();
      const text = copyButton.parentElement.querySelector('.qa-copytext');
      if (text) copy(text.textContent, copyButton);
      return;
    }
    const chip = event.target.closest('button.qa-chip, button.qa-show');
    if (chip) {
      event.stopPropagation(); event.preventDefault();
      pick(idOf(chip, 'qa-r-'), idOf(chip, 'qa-n-') || '0');
      return;
    }
    const row = event.target.closest('button.qa-open, button.qa-restore');
    if (row) {
      event.stopPropagation(); event.preventDefault();
      send(row.classList.contains('qa-open') ? '#lib-pick' : '#restore-pick', idOf(row, 'qa-row-'));
      return;
    }
    const reply = event.target.closest('#chat .qa-reply');
    if (reply && !event.target.closest('button')) pick(idOf(reply, 'qa-r-'), '0');
  }, true);
  // A hidden box carries a click to the server; the time makes every click a change.
  const send = (selector, value) => {
    const box = document.querySelector(selector + ' textarea, ' + selector + ' input');
    if (!box) return;
    box.value = value + ':' + Date.now();
    box.dispatchEvent(new Event('input', {bubbles: true}));
  };
  // A new reply: its top (the question's answer, not its end) is brought into view, in the chat and on the page.
  let replies = 0;
  const showNewReply = () => {
    const all = document.querySelectorAll('#chat .qa-reply');
    if (all.length === replies) return;
    const grew = all.length > replies;
    replies = all.length;
    if (!grew) {  // a new conversation: the empty chat and its examples come back into view (on a phone, above)
      const chat = document.querySelector('#chat');
      if (!all.length && chat && chat.getBoundingClientRect().top < 0) chat.scrollIntoView({block: 'start', behavior: 'instant'});
      return;
    }
    const reply = all[all.length - 1];
    bringUp(reply);
    setTimeout(() => bringUp(reply), 250);  // again once the chat has laid out its buttons and images
  };
  const bringUp = (reply) => {
    // The row of a message (its whole bubble), not the inner .message box the reply sits in.
    const rowOf = (el) => el.closest('.message-row') || el.closest('.message') || el;
    const scroller = reply.closest('.bubble-wrap, [role=log]') || document.querySelector('#chat .bubble-wrap');
    const asked = [...document.querySelectorAll('#chat .qa-q')]
      .filter((q) => q.compareDocumentPosition(reply) & Node.DOCUMENT_POSITION_FOLLOWING);
    const top = asked.length ? rowOf(asked[asked.length - 1]) : rowOf(reply);  // the question above the reply
    if (scroller) {
      const frame = scroller.getBoundingClientRect();
      const tools = document.querySelector('#chat .top-panel');  // the chat's trash icon floats over the top right
      const clear = tools && tools.getBoundingClientRect().height ? Math.max(8, tools.getBoundingClientRect().bottom - frame.top + 4) : 8;
      scroller.scrollTop += top.getBoundingClientRect().top - frame.top - clear;
      const lead = reply.getBoundingClientRect().top;  // a long question must not push the answer out of view
      if (lead > frame.bottom - 120) scroller.scrollTop += lead - frame.top - 8;
    }
    const box = reply.getBoundingClientRect();
    if (box.top < 0 || box.top > window.innerHeight - 80) window.scrollBy(0, box.top - 12);
  };
  // Screen readers: a message's label is its text, never its markup.
  const relabel = () => {
    document.querySelectorAll('#chat [aria-label]').forEach((el) => {
      const label = el.getAttribute('aria-label') || '';
      if (label.includes('<') || label.includes('&#')) {
        const text = (el.innerText || '').replace(/\s+/g, ' ').trim().slice(0, 300);
        el.setAttribute('aria-label', text || 'message');
      }
    });
  };
  // Opening a release in the Library scrolls its text into view.
  let opened = '';
  const showOpened = () => {
    const view = document.querySelector('#lib-view .qa-lib-open .qa-viewer-head');
    const key = view ? view.textContent : '';
    if (key && key !== opened) { opened = key; view.scrollIntoView({block: 'start', behavior: 'instant'}); }
    if (!key) opened = '';
  };
  const scrollViewers = () => {
    document.querySelectorAll('.qa-viewer').forEach((viewer) => {
      const cited = viewer.querySelector('.qa-cited');
      const key = (viewer.closest('.qa-panel') || viewer).className + '|' + (cited ? cited.textContent.slice(0, 60) : '');
      if (viewer.dataset.scrolled === key) return;
      viewer.dataset.scrolled = key;
      viewer.scrollTop = cited ? Math.max(0, cited.offsetTop - 8) : 0;
    });
  };
  // A refused question (blank, too long, a bad filter) gets its reason on screen, not below the fold.
  let shownError = '';
  const showError = () => {
    const error = document.querySelector('#ask-error .qa-error');
    const text = error ? error.textContent : '';
    if (text && text !== shownError) {
      const box = error.getBoundingClientRect();
      if (box.top < 0 || box.bottom > window.innerHeight) error.scrollIntoView({block: 'nearest', behavior: 'instant'});
    }
    shownError = text;
  };
  new MutationObserver(() => requestAnimationFrame(() => {
    scrollViewers(); showNewReply(); relabel(); showOpened(); showError();
  })).observe(document.documentElement, {childList: true, subtree: true});
})();
