// release-qa page script: chips and passage cards open a passage in the sources panel (through the hidden
// #pick box), "Copy with citation" copies plain text, and a new release view scrolls to its cited paragraph.
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
    const reply = event.target.closest('#chat .qa-reply');
    if (reply && !event.target.closest('button')) pick(idOf(reply, 'qa-r-'), '0');
  }, true);
  const scrollViewers = () => {
    document.querySelectorAll('.qa-viewer').forEach((viewer) => {
      const cited = viewer.querySelector('.qa-cited');
      const key = (viewer.closest('.qa-panel') || viewer).className + '|' + (cited ? cited.textContent.slice(0, 60) : '');
      if (viewer.dataset.scrolled === key) return;
      viewer.dataset.scrolled = key;
      viewer.scrollTop = cited ? Math.max(0, cited.offsetTop - 8) : 0;
    });
  };
  new MutationObserver(() => requestAnimationFrame(scrollViewers)).observe(document.documentElement, {childList: true, subtree: true});
})();
