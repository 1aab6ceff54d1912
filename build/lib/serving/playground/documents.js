// The documents the caller may see in the chosen collection, a page at a time (GET /v1/documents); for writers,
// upload (POST /v1/documents/files: the loaders `rag ingest` uses, each file's failure reported as the CLI reports
// it) and delete (DELETE /v1/documents/{id}).

import { ApiError } from './api.js';

function cell(content) {
  const td = document.createElement('td');
  td.append(content);
  return td;
}

export class Documents {
  constructor(app) {
    this.app = app;
    this.body = document.querySelector('#documents tbody');
    this.more = document.getElementById('more-documents');
    this.status = document.getElementById('documents-status');
    this.report = document.getElementById('upload-report');
    this.form = document.getElementById('upload-form');
    this.files = document.getElementById('files');
    this.last = null;
    this.more.addEventListener('click', () => this.load(false));
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.upload();
    });
  }

  show() {
    this.form.hidden = !this.app.can('writer');
    this.load(true);
  }

  async load(fresh) {
    if (fresh) {
      this.body.replaceChildren();
      this.last = null;
    }
    const query = new URLSearchParams({ collection: this.app.collection(), limit: '50' });
    if (this.last) query.set('after', this.last);
    this.status.textContent = 'Loading…';
    try {
      const page = await this.app.api.get(`/v1/documents?${query}`);
      for (const doc of page.data) this.body.append(this.row(doc));
      this.last = page.last_id;
      this.more.hidden = !page.has_more;
      this.status.textContent = `${this.body.children.length} documents shown${page.has_more ? ', more to show' : ''}.`;
    } catch (error) {
      this.more.hidden = true;
      this.status.textContent = error instanceof ApiError && error.status === 404 ? 'This collection holds no documents yet.' : error.message;
    }
  }

  row(doc) {
    const tr = document.createElement('tr');
    tr.dataset.id = doc.id;
    const actions = document.createElement('td');
    if (this.app.can('writer')) {
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.textContent = 'Delete';
      remove.setAttribute('aria-label', `Delete ${doc.id}`);
      remove.addEventListener('click', () => this.remove(doc.id, tr));
      actions.append(remove);
    }
    tr.append(cell(doc.id), cell(doc.title || ''), cell(doc.source || ''), actions);
    return tr;
  }

  async remove(id, row) {
    if (!window.confirm(`Delete ${id} and all its chunks?`)) return;
    try {
      const deleted = await this.app.api.delete(`/v1/documents/${encodeURIComponent(id)}?collection=${encodeURIComponent(this.app.collection())}`);
      row.remove();
      this.status.textContent = `Deleted ${id} (${deleted.chunks_deleted} chunks).`;
    } catch (error) {
      this.status.textContent = `Not deleted: ${error.message}`;
    }
  }

  async upload() {
    const chosen = Array.from(this.files.files);
    if (!chosen.length) return;
    const body = new FormData();
    body.append('collection', this.app.collection());
    for (const file of chosen) body.append('files', file, file.name);
    this.report.replaceChildren(document.createTextNode(`Uploading ${chosen.length} files…`));
    const lines = [];
    try {
      const result = await this.app.api.post('/v1/documents/files', body);
      for (const doc of result.documents) lines.push(doc.id === doc.file ? `stored: ${doc.id}` : `stored: ${doc.id} (from ${doc.file})`);
      for (const failure of result.failed) lines.push(`failed: ${failure.file}: ${failure.error}`);
      lines.push(`${result.documents.length} documents stored (${result.documents_added} added, ${result.documents_updated} updated, ${result.documents_unchanged} unchanged; ${result.chunks} chunks written); ${result.failed.length} failed.`);
    } catch (error) {
      lines.push(`Upload refused: ${error.message}`);
    }
    const list = document.createElement('ul');
    for (const line of lines) {
      const item = document.createElement('li');
      item.textContent = line;
      if (line.startsWith('failed:')) item.className = 'error';
      list.append(item);
    }
    this.report.replaceChildren(list);
    this.files.value = '';
    this.load(true);
  }
}
