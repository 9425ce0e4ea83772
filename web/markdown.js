// markdown.js — a small Markdown renderer for model output that cannot inject markup.
//
// It never parses HTML: every piece of text becomes a DOM text node (textContent /
// createTextNode), and the only elements are the ones this file creates (p, h1-h6, ul, ol, li,
// blockquote, pre, code, strong, em, a, hr). So "<script>" or "<img src=x onerror=...>" in an
// answer is shown as those characters. Links are made only for http(s) URLs, open in a new tab
// with no referrer, and are never fetched by the page; images are not loaded (shown as links),
// so an answer cannot make the browser contact another host by itself.
//
// Supported: fenced code blocks (``` or ~~~, with a language; an unclosed fence while streaming
// is code so far), ATX headings, paragraphs (line breaks kept), - * + and 1. lists, > quotes,
// --- rules, `code`, **bold**, __bold__, *em*, _em_, [text](http...) links.
'use strict';

(function () {
  const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
  const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
  const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
  const QUOTE = /^ {0,3}>\s?(.*)$/;
  const UL = /^(\s*)[-*+]\s+(.*)$/;
  const OL = /^(\s*)(\d{1,9})[.)]\s+(.*)$/;

  function el(tag, cls) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    return e;
  }

  function isSafeUrl(u) {
    return /^https?:\/\/[^\s]+$/i.test(u);
  }

  // Inline spans: code, strong, em, links. Everything else is a text node.
  const INLINE = /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)|\*\*(?=\S)([\s\S]*?\S)\*\*|__(?=\S)([\s\S]*?\S)__|\*(?=[^\s*])([\s\S]*?[^\s*])\*|(^|[^\w])_(?=[^\s_])([\s\S]*?[^\s_])_(?!\w)|!?\[([^\]\n]+)\]\(([^)\s]+)\)/;

  function inline(text, parent, depth) {
    if (depth > 8) {
      parent.appendChild(document.createTextNode(text));
      return;
    }
    let rest = text;
    while (rest.length) {
      const m = INLINE.exec(rest);
      if (!m) {
        parent.appendChild(document.createTextNode(rest));
        return;
      }
      let start = m.index;
      if (m[6] !== undefined) start += m[6].length; // the char before _em_ is text
      if (start > 0) parent.appendChild(document.createTextNode(rest.slice(0, start)));
      if (m[1] !== undefined) {
        const c = el('code');
        let s = m[2];
        if (/^ .*[^ ].* $/.test(s)) s = s.slice(1, -1);
        c.textContent = s;
        parent.appendChild(c);
      } else if (m[3] !== undefined || m[4] !== undefined) {
        const s = el('strong');
        inline(m[3] !== undefined ? m[3] : m[4], s, depth + 1);
        parent.appendChild(s);
      } else if (m[5] !== undefined || m[7] !== undefined) {
        const s = el('em');
        inline(m[5] !== undefined ? m[5] : m[7], s, depth + 1);
        parent.appendChild(s);
      } else if (m[8] !== undefined) {
        if (isSafeUrl(m[9])) {
          const a = el('a');
          a.href = m[9];
          a.rel = 'noopener noreferrer nofollow';
          a.target = '_blank';
          a.title = m[9];
          inline((m[0][0] === '!' ? 'image: ' : '') + m[8], a, depth + 1);
          parent.appendChild(a);
        } else {
          parent.appendChild(document.createTextNode(m[0]));
        }
      }
      rest = rest.slice(m.index + m[0].length);
    }
  }

  function codeBlock(lang, lines, closed) {
    const wrap = el('div', 'code-block');
    const bar = el('div', 'code-bar');
    const label = el('span', 'code-lang');
    label.textContent = lang || 'code';
    bar.appendChild(label);
    const copy = el('button', 'copy-btn');
    copy.type = 'button';
    copy.textContent = 'Copy';
    const text = lines.join('\n');
    copy.setAttribute('aria-label', 'Copy code');
    copy.addEventListener('click', () => {
      if (navigator.clipboard) {
        navigator.clipboard.writeText(text).then(() => {
          copy.textContent = 'Copied';
          setTimeout(() => (copy.textContent = 'Copy'), 1200);
        }, () => {});
      }
    });
    bar.appendChild(copy);
    wrap.appendChild(bar);
    const pre = el('pre');
    const code = el('code');
    if (lang) code.dataset.lang = lang;
    code.textContent = text;
    pre.appendChild(code);
    wrap.appendChild(pre);
    if (!closed) wrap.classList.add('open');
    return wrap;
  }

  // Blocks of lines into container.
  function blocks(lines, container, depth) {
    let i = 0;
    let para = [];
    const flush = () => {
      if (!para.length) return;
      const p = el('p');
      inline(para.join('\n'), p, 0);
      container.appendChild(p);
      para = [];
    };
    while (i < lines.length) {
      const line = lines[i];
      let m;
      if ((m = FENCE.exec(line))) {
        flush();
        const fence = m[1];
        const body = [];
        i++;
        let closed = false;
        while (i < lines.length) {
          const t = lines[i].trim();
          if (t.startsWith(fence[0].repeat(fence.length)) && /^[`~]+$/.test(t)) {
            closed = true;
            i++;
            break;
          }
          body.push(lines[i]);
          i++;
        }
        container.appendChild(codeBlock(m[2], body, closed));
        continue;
      }
      if (!line.trim()) {
        flush();
        i++;
        continue;
      }
      if ((m = HEADING.exec(line))) {
        flush();
        const h = el('h' + Math.min(6, m[1].length + 2)); // h3..h6 inside a message
        h.className = 'md-h' + m[1].length;
        inline(m[2], h, 0);
        container.appendChild(h);
        i++;
        continue;
      }
      if (RULE.test(line) && !para.length) {
        flush();
        container.appendChild(el('hr'));
        i++;
        continue;
      }
      if (QUOTE.test(line) && depth < 6) {
        flush();
        const inner = [];
        while (i < lines.length && (m = QUOTE.exec(lines[i]))) {
          inner.push(m[1]);
          i++;
        }
        const q = el('blockquote');
        blocks(inner, q, depth + 1);
        container.appendChild(q);
        continue;
      }
      const ul = UL.exec(line), ol = OL.exec(line);
      if ((ul || ol) && depth < 6) {
        flush();
        const ordered = !ul;
        const list = el(ordered ? 'ol' : 'ul');
        if (ordered && ol[2] !== '1') list.start = Number(ol[2]);
        const indent = (ul || ol)[1].length;
        let item = null;
        while (i < lines.length) {
          const l = lines[i];
          const mu = UL.exec(l), mo = OL.exec(l);
          const mi = ordered ? mo : mu;
          if (mi && mi[1].length <= indent + 1) {
            if (item) list.appendChild(finishItem(item, depth));
            item = [ordered ? mi[3] : mi[2]];
            i++;
          } else if (l.trim() && item && (/^\s/.test(l) || mu || mo)) {
            item.push(l.replace(/^\s{1,4}/, '')); // continuation or nested list
            i++;
          } else if (!l.trim() && item && i + 1 < lines.length && /^\s+\S/.test(lines[i + 1])) {
            item.push('');
            i++;
          } else {
            break;
          }
        }
        if (item) list.appendChild(finishItem(item, depth));
        container.appendChild(list);
        continue;
      }
      para.push(line);
      i++;
    }
    flush();
  }

  function finishItem(lines, depth) {
    const li = el('li');
    if (lines.length === 1) inline(lines[0], li, 0);
    else blocks(lines, li, depth + 1);
    // a single paragraph inside an item renders without the paragraph margins
    if (li.childNodes.length === 1 && li.firstChild.tagName === 'P') {
      const p = li.firstChild;
      while (p.firstChild) li.appendChild(p.firstChild);
      li.removeChild(p);
    }
    return li;
  }

  // Replaces container's children with text rendered as Markdown.
  function render(text, container) {
    const frag = document.createDocumentFragment();
    blocks(String(text).replace(/\r\n?/g, '\n').split('\n'), frag, 0);
    container.replaceChildren(frag);
  }

  window.hearthMarkdown = { render };
})();
