# ruff: noqa: E501 -- page scripts are kept as written
"""What the browser tests measure in the page: contrast of every visible text, positions, touch targets."""

# Every visible text node (and every shown placeholder) against the colour actually behind it, computed in the page.
# Translucent backgrounds are composited up the ancestor chain; large text (>= 24px, or >= 18.66px bold) needs 3:1,
# the rest 4.5:1; disabled controls are exempt (WCAG 1.4.3).
ALL_CONTRAST_JS = r"""() => {
  const parse = (c) => { const m = (c || '').match(/rgba?\(([^)]+)\)/); if (!m) return null;
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const over = (top, under) => { const a = top[3]; return [0, 1, 2].map(i => top[i] * a + under[i] * (1 - a)).concat([1]); };
  const background = (el) => {
    const layers = [];
    for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] > 0.99) break; }
    }
    let bg = parse(getComputedStyle(document.body).backgroundColor) || [255, 255, 255, 1];
    if (bg[3] < 1) bg = over(bg, [255, 255, 255, 1]);
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const ratio = (fg, bg) => { const mixed = over(fg, bg); const [a, b] = [lum(mixed), lum(bg)].sort((x, y) => y - x);
    return (a + 0.05) / (b + 0.05); };
  const visible = (el) => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    return r.width > 1 && r.height > 1 && s.visibility !== 'hidden' && parseFloat(s.opacity) > 0.05 && el.closest('[hidden]') === null
      && (() => { for (let n = el; n; n = n.parentElement) if (parseFloat(getComputedStyle(n).opacity) < 0.05) return false; return true; })(); };
  const out = [];
  const check = (el, text, fg) => {
    if (!visible(el) || el.closest(':disabled, [aria-disabled=true]')) return;
    const s = getComputedStyle(el); const size = parseFloat(s.fontSize); const bold = parseInt(s.fontWeight) >= 700;
    const need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    const bg = background(el); const r = ratio(parse(fg), bg);
    out.push({text: text.slice(0, 60), ratio: Math.round(r * 100) / 100, need, fg, bg: 'rgb(' + bg.slice(0, 3).map(Math.round).join(',') + ')',
      where: (el.id ? '#' + el.id : el.tagName.toLowerCase() + '.' + [...el.classList].slice(0, 2).join('.'))});
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim(); const el = node.parentElement;
    if (!text || !el || ['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE'].includes(el.tagName)) continue;
    check(el, text, getComputedStyle(el).color);
  }
  document.querySelectorAll('input[placeholder], textarea[placeholder]').forEach((el) => {
    if (!el.value && el.placeholder) check(el, 'placeholder: ' + el.placeholder, getComputedStyle(el, '::placeholder').color);
  });
  document.querySelectorAll('input:not([type=range]):not([type=hidden]):not([type=file]), textarea').forEach((el) => {
    if (el.value) check(el, 'value: ' + el.value, getComputedStyle(el).color);
  });
  return out;
}"""

SMALL_TARGETS_JS = r"""(minimum) => [...document.querySelectorAll('button, [role=button], a[href], input[type=checkbox], input[type=radio]')]
  .filter(el => { const r = el.getBoundingClientRect(); return r.width > 1 && r.height > 1 && getComputedStyle(el).visibility !== 'hidden'; })
  .filter(el => { const r = el.getBoundingClientRect(); return r.width < minimum || r.height < minimum; })
  .map(el => ({label: (el.getAttribute('aria-label') || el.innerText || el.className).slice(0, 40),
    w: Math.round(el.getBoundingClientRect().width), h: Math.round(el.getBoundingClientRect().height)}))"""


def low_contrast(page) -> list[dict]:
    """Every visible text on the page below its WCAG AA threshold."""
    return [r for r in page.evaluate(ALL_CONTRAST_JS) if r["ratio"] < r["need"]]
