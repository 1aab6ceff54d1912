// The playground's start: its configuration (config.json), sign-in, who the caller is (GET /v1/me), the
// collections it may pick (GET /v1/collections), and the sections: chat, documents, evaluation reports (admins).

import { Api, ApiError } from './api.js';
import { finishOidc, forget, keep, savedToken, startOidc } from './auth.js';
import { Chat } from './chat.js';
import { Documents } from './documents.js';
import { Reports } from './reports.js';

const ROLES = ['reader', 'writer', 'admin'];

class App {
  constructor() {
    this.api = null;
    this.me = null;
    this.picker = document.getElementById('collection');
  }

  async start() {
    this.config = await (await fetch('config.json')).json();
    this.model = this.config.model;
    const signIn = document.getElementById('sign-in');
    document.getElementById('key-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const key = document.getElementById('api-key').value.trim();
      if (key) this.signIn(key);
    });
    document.getElementById('sign-out').addEventListener('click', () => {
      forget();
      window.location.reload();
    });
    if (this.config.oidc) {
      document.getElementById('oidc').hidden = false;
      document.getElementById('oidc-sign-in').addEventListener('click', () => {
        startOidc(this.config.oidc).catch((error) => this.refuse(error.message));
      });
      try {
        const token = await finishOidc(this.config.oidc);
        if (token) keep(token);
      } catch (error) {
        signIn.hidden = false;
        this.refuse(error.message);
        return;
      }
    }
    if (!this.config.auth) return this.signIn(null);
    const token = savedToken();
    if (token) return this.signIn(token);
    signIn.hidden = false;
    document.getElementById('api-key').focus();
  }

  refuse(message) {
    document.getElementById('sign-in').hidden = false;
    document.getElementById('sign-in-error').textContent = message;
  }

  async signIn(token) {
    const api = new Api(token);
    try {
      this.me = await api.get('/v1/me');
    } catch (error) {
      forget();
      this.refuse(error instanceof ApiError && error.status === 401 ? `Not signed in: ${error.message}` : error.message);
      return;
    }
    if (token) keep(token);
    this.api = api;
    document.getElementById('sign-in').hidden = true;
    document.getElementById('main').hidden = false;
    document.getElementById('sign-out').hidden = !this.config.auth;
    document.getElementById('who').textContent =
      `Signed in as ${this.me.subject} (tenant ${this.me.tenant}; ${this.me.roles.join(', ') || 'no role'})`;
    await this.loadCollections();
    this.chat = new Chat(this);
    this.documents = new Documents(this);
    this.reports = new Reports(this);
    document.getElementById('reports-tab').hidden = !this.can('admin');
    for (const tab of document.querySelectorAll('.tab')) tab.addEventListener('click', () => this.open(tab));
    this.picker.addEventListener('change', () => {
      if (!document.getElementById('documents-panel').hidden) this.documents.show();
    });
    document.getElementById('question').focus();
  }

  async loadCollections() {
    let names = [];
    try {
      names = (await this.api.get('/v1/collections')).data.map((c) => c.id);
    } catch (error) {
      names = [];
    }
    if (!names.includes(this.config.collection)) names.unshift(this.config.collection);
    this.picker.replaceChildren(...names.map((name) => new Option(name, name, false, name === this.config.collection)));
  }

  open(tab) {
    for (const other of document.querySelectorAll('.tab')) {
      const chosen = other === tab;
      other.setAttribute('aria-pressed', String(chosen));
      document.getElementById(other.dataset.panel).hidden = !chosen;
    }
    if (tab.dataset.panel === 'documents-panel') this.documents.show();
    if (tab.dataset.panel === 'reports-panel') this.reports.show();
  }

  can(role) {
    return this.me.roles.some((r) => ROLES.indexOf(r) >= ROLES.indexOf(role));
  }

  collection() {
    return this.picker.value || this.config.collection;
  }
}

new App().start();
