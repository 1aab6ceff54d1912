// The chat: a question streamed to /v1/chat/completions, its tokens shown as they arrive, then its numbered sources
// (click one: its excerpt, title, source and page), the sentences no source supports marked, and feedback.
// Performance marks `rag:sse-first:N` (the API's first SSE event arrived) and `rag:token-shown:N` (the first token
// is on screen) time each answer N.

import { ApiError } from './api.js';

const MARKER = /\[(\d{1,4}(?:\s*,\s*\d{1,4})*)\]/g;

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === 'text') node.textContent = value;
    else if (name === 'hidden') node.hidden = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function hiddenText(text) {
  return element('span', { class: 'visually-hidden', text });
}

function codePoints(text, utf16Index) {
  return Array.from(text.slice(0, utf16Index)).length;
}

export class Chat {
  constructor(app) {
    this.app = app;
    this.turns = [];
    this.asked = 0;
    this.list = document.getElementById('conversation');
    this.form = document.getElementById('ask-form');
    this.question = document.getElementById('question');
    this.status = document.getElementById('ask-status');
    this.button = document.getElementById('ask');
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      const question = this.question.value.trim();
      if (question) this.ask(question);
    });
    this.question.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey) {
        event.preventDefault();
        this.form.requestSubmit();
      }
    });
  }

  async ask(question) {
    const n = ++this.asked;
    const view = this.answerView(n, question);
    this.button.disabled = true;
    this.status.textContent = 'Answering…';
    this.question.value = '';
    let text = '';
    let id = null;
    let shown = false;
    const evidence = { citations: [], attributions: [], abstention: null };
    const messages = [...this.turns, { role: 'user', content: question }];
    try {
      performance.mark(`rag:asked:${n}`);
      await this.app.api.stream(
        { model: this.app.model, messages, collection: this.app.collection() },
        {
          onFirstEvent: () => performance.mark(`rag:sse-first:${n}`),
          onEvent: (chunk) => {
            id = chunk.id || id;
            for (const choice of chunk.choices || []) {
              const piece = choice.delta && choice.delta.content;
              if (piece) {
                text += piece;
                view.text.textContent = text;
                if (!shown) {
                  shown = true;
                  requestAnimationFrame(() => performance.mark(`rag:token-shown:${n}`));
                }
              }
            }
            if (chunk.citations) {
              evidence.citations = chunk.citations;
              evidence.attributions = chunk.attributions || [];
              evidence.abstention = chunk.abstention;
              this.showSources(view, evidence.citations);
            }
          },
        },
      );
      this.showAnswer(view, text, evidence);
      this.turns.push({ role: 'user', content: question }, { role: 'assistant', content: text });
      view.item.dataset.completionId = id || '';
      if (id) view.item.append(this.feedbackForm(id, n));
      this.status.textContent = 'Answered.';
    } catch (error) {
      view.text.textContent = text;
      view.item.append(element('p', { class: 'error', role: 'alert', text: error.message }));
      this.status.textContent = error instanceof ApiError && error.status === 401 ? 'Signed out.' : 'Failed.';
    } finally {
      this.button.disabled = false;
      this.question.focus();
    }
  }

  answerView(n, question) {
    const text = element('div', { class: 'answer-text', 'aria-live': 'polite', 'aria-busy': 'true' });
    const sources = element('div', { class: 'sources' });
    const detail = element('div', { class: 'source-detail', id: `source-detail-${n}`, 'aria-live': 'polite' });
    const item = element(
      'li',
      { class: 'exchange', 'aria-label': `Question and answer ${n}` },
      element('p', { class: 'question' }, element('strong', { text: 'You: ' }), question),
      element('div', { class: 'answer' }, element('strong', { text: 'Answer: ' }), text),
      sources,
      detail,
    );
    this.list.append(item);
    item.scrollIntoView({ block: 'end' });
    return { n, item, text, sources, detail, citations: [] };
  }

  showSources(view, citations) {
    view.citations = citations;
    view.sources.replaceChildren();
    if (!citations.length) return;
    const list = element('ol', { class: 'source-list', 'aria-label': 'Sources' });
    for (const citation of citations) {
      const button = element('button', {
        type: 'button',
        class: citation.cited ? 'source cited' : 'source',
        'aria-controls': view.detail.id,
        'aria-expanded': 'false',
        'data-index': String(citation.index),
        text: `[${citation.index}] ${citation.title || citation.doc_id}`,
      });
      if (!citation.cited) button.append(hiddenText(' (not cited)'));
      button.addEventListener('click', () => this.showSource(view, citation.index));
      list.append(element('li', {}, button));
    }
    view.sources.append(element('h3', { text: 'Sources' }), list);
  }

  showSource(view, index) {
    const citation = view.citations.find((c) => c.index === index);
    for (const button of view.sources.querySelectorAll('button.source')) {
      button.setAttribute('aria-expanded', String(button.dataset.index === String(index)));
    }
    if (!citation) return;
    const facts = element('dl', {});
    const add = (term, value) => {
      if (value !== null && value !== undefined && value !== '') facts.append(element('dt', { text: term }), element('dd', {}, value));
    };
    add('Title', citation.title);
    const source = /^https?:\/\//.test(citation.source)
      ? element('a', { href: citation.source, rel: 'noopener noreferrer', target: '_blank', text: citation.source })
      : citation.source;
    add('Source', source);
    add('Document', citation.doc_id);
    if (citation.page) add('Page', String(citation.page));
    add('Score', citation.score.toFixed(3));
    if (citation.note) add('Note', citation.note);
    view.detail.replaceChildren(
      element('h3', { text: `Source [${index}]`, tabindex: '-1' }),
      facts,
      element('blockquote', { class: 'excerpt', text: citation.excerpt }),
    );
    view.detail.querySelector('h3').focus();
  }

  showAnswer(view, text, evidence) {
    view.text.setAttribute('aria-busy', 'false');
    const points = Array.from(text);
    const markers = [];
    for (const match of text.matchAll(MARKER)) {
      const start = codePoints(text, match.index);
      markers.push({ start, end: start + Array.from(match[0]).length, numbers: match[1].split(',').map((x) => Number(x.trim())) });
    }
    const known = new Set(evidence.citations.map((c) => c.index));
    const write = (parent, from, to) => {
      let at = from;
      for (const marker of markers) {
        if (marker.start < from || marker.end > to) continue;
        if (marker.start > at) parent.append(points.slice(at, marker.start).join(''));
        for (const number of marker.numbers) {
          if (!known.has(number)) {
            parent.append(`[${number}]`);
            continue;
          }
          const cite = element('button', { type: 'button', class: 'cite', 'aria-label': `Source ${number}`, text: `[${number}]` });
          cite.addEventListener('click', () => this.showSource(view, number));
          parent.append(cite);
        }
        at = marker.end;
      }
      if (at < to) parent.append(points.slice(at, to).join(''));
    };
    view.text.replaceChildren();
    let at = 0;
    const unsupported = evidence.attributions.filter((a) => !a.supported).sort((a, b) => a.start_index - b.start_index);
    for (const sentence of unsupported) {
      if (sentence.start_index < at) continue;
      write(view.text, at, sentence.start_index);
      const mark = element('mark', { class: 'unsupported', title: 'No source supports this sentence' });
      write(mark, sentence.start_index, sentence.end_index);
      mark.append(hiddenText(' (no source supports this sentence)'));
      view.text.append(mark);
      at = sentence.end_index;
    }
    write(view.text, at, points.length);
    if (evidence.abstention) {
      view.text.append(element('p', { class: 'hint', text: `The answer abstained (${evidence.abstention}).` }));
    }
  }

  feedbackForm(completionId, n) {
    const form = element('form', { class: 'feedback', 'aria-label': `Feedback on answer ${n}` });
    const thumbs = element('fieldset', {}, element('legend', { text: 'Was this answer right?' }));
    let rating = null;
    const more = element('div', { class: 'feedback-more', hidden: true });
    for (const [value, label] of [['up', 'Right'], ['down', 'Wrong']]) {
      const button = element('button', { type: 'button', class: 'thumb', 'aria-pressed': 'false', 'data-rating': value, text: label });
      button.addEventListener('click', () => {
        rating = value;
        for (const b of thumbs.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b === button));
        more.hidden = false;
      });
      thumbs.append(button);
    }
    const comment = element('textarea', { id: `comment-${n}`, rows: '2', maxlength: '4000' });
    const corrected = element('textarea', { id: `corrected-${n}`, rows: '3', maxlength: '32000' });
    const status = element('span', { class: 'status', role: 'status' });
    more.append(
      element('label', { for: comment.id, text: 'Comment (optional)' }), comment,
      element('label', { for: corrected.id, text: 'Corrected answer (optional)' }), corrected,
      element('button', { type: 'submit', text: 'Send feedback' }),
    );
    form.append(thumbs, more, status);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!rating) return;
      const body = { completion_id: completionId, rating };
      if (comment.value.trim()) body.comment = comment.value.trim();
      if (corrected.value.trim()) body.corrected_answer = corrected.value.trim();
      status.textContent = 'Sending…';
      try {
        await this.app.api.post('/v1/feedback', body);
        status.textContent = 'Thank you: feedback saved.';
      } catch (error) {
        status.textContent = `Feedback not saved: ${error.message}`;
      }
    });
    return form;
  }
}
