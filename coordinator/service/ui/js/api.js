// The REST API client. The token is kept in sessionStorage (gone when the tab closes, never
// sent anywhere but this service) and sent as a bearer token on every /api/v1 request.
(function () {
  'use strict';
  const Aimass = (window.Aimass = window.Aimass || {});
  const TOKEN_KEY = 'aimass.token';

  // An API failure: the HTTP status, the service's `code` and its one-line `error`, shown to
  // the user as the server wrote it.
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  // Called when the service answers 401 to a signed-in session: the token was revoked.
  let onUnauthenticated = null;

  // The ApiError for a response that is not 2xx, from the service's {"error", "code"} body.
  async function failure(response, signedIn) {
    const text = await response.text();
    let code = 'http_' + response.status;
    let message = text.trim() || response.statusText || 'HTTP ' + response.status;
    try {
      const parsed = JSON.parse(text);
      if (parsed && typeof parsed.error === 'string') {
        message = parsed.error;
        if (typeof parsed.code === 'string') code = parsed.code;
      }
    } catch (_) {
      // Not JSON (a proxy's page, say): show its text.
    }
    if (response.status === 401 && signedIn && onUnauthenticated) onUnauthenticated(message);
    return new ApiError(response.status, code, message);
  }

  async function request(method, path, body, options) {
    options = options || {};
    const token = options.token !== undefined ? options.token : sessionStorage.getItem(TOKEN_KEY);
    const headers = { Accept: options.text ? 'text/plain' : 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    const init = { method, headers, cache: 'no-store', signal: options.signal };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch('api/v1' + path, init);
    } catch (e) {
      if (e && e.name === 'AbortError') throw e;
      throw new ApiError(0, 'unreachable', 'cannot reach the service (' + e.message + ')');
    }
    if (!response.ok) throw await failure(response, !options.token);
    const text = await response.text();
    if (options.text) return text;
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new ApiError(response.status, 'bad_response', 'the service sent invalid JSON for ' + path);
    }
  }

  const enc = encodeURIComponent;

  Aimass.ApiError = ApiError;
  Aimass.api = {
    token: () => sessionStorage.getItem(TOKEN_KEY),
    setToken: (t) => sessionStorage.setItem(TOKEN_KEY, t),
    clearToken: () => sessionStorage.removeItem(TOKEN_KEY),
    setUnauthenticatedHandler: (f) => { onUnauthenticated = f; },

    // Checks a token before it is stored, so a wrong one never becomes the session's.
    whoami: (token) => request('GET', '/whoami', undefined, { token }),

    jobs: (limit) => request('GET', '/jobs?limit=' + (limit || 100)),
    job: (id) => request('GET', '/jobs/' + enc(id)),
    jobMetrics: (id) => request('GET', '/jobs/' + enc(id) + '/metrics'),
    jobLog: (id) => request('GET', '/jobs/' + enc(id) + '/log', undefined, { text: true }),
    // GET .../log?follow=1: the open response, whose body streams the log's lines until the
    // job ends. The caller reads response.body and aborts through `signal`.
    async openJobLog(id, signal) {
      const token = sessionStorage.getItem(TOKEN_KEY);
      let response;
      try {
        response = await fetch('api/v1/jobs/' + enc(id) + '/log?follow=1', {
          headers: { Accept: 'text/plain', Authorization: 'Bearer ' + token }, cache: 'no-store', signal,
        });
      } catch (e) {
        if (e && e.name === 'AbortError') throw e;
        throw new ApiError(0, 'unreachable', 'cannot reach the service (' + e.message + ')');
      }
      if (!response.ok) throw await failure(response, true);
      if (!response.body || !response.body.getReader) {
        throw new ApiError(0, 'unsupported', 'this browser cannot read a streamed response');
      }
      return response;
    },
    submitJob: (body) => request('POST', '/jobs', body),
    cancelJob: (id) => request('POST', '/jobs/' + enc(id) + '/cancel', {}),

    models: () => request('GET', '/models'),
    model: (name) => request('GET', '/models/' + enc(name)),
    setAlias: (name, alias, version) =>
      request('PUT', '/models/' + enc(name) + '/aliases/' + enc(alias), { version }),

    // {job, model, kind, limit}: the filters given; {alerts: [...], total}
    alerts: (query) => request('GET', '/alerts?' + new URLSearchParams(query || {}).toString()),
    evaluation: (name, version) => request('GET', '/models/' + enc(name) + '/versions/' + enc(version) + '/evaluation'),
    modelProfile: (name, version) => request('GET', '/models/' + enc(name) + '/versions/' + enc(version) + '/profile'),
    datasets: () => request('GET', '/datasets'),
    dataset: (name) => request('GET', '/datasets/' + enc(name)),
    registerDataset: (body) => request('POST', '/datasets', body),
    deleteDataset: (name) => request('DELETE', '/datasets/' + enc(name)),

    audit: () => request('GET', '/audit'),
    tokens: () => request('GET', '/tokens'),
    createToken: (role, description) => request('POST', '/tokens', { role, description }),
    revokeToken: (id) => request('DELETE', '/tokens/' + enc(id)),

    schedules: () => request('GET', '/schedules'),
    schedule: (id) => request('GET', '/schedules/' + enc(id)),
    createSchedule: (body) => request('POST', '/schedules', body),
    pauseSchedule: (id) => request('POST', '/schedules/' + enc(id) + '/pause', {}),
    resumeSchedule: (id) => request('POST', '/schedules/' + enc(id) + '/resume', {}),
    deleteSchedule: (id) => request('DELETE', '/schedules/' + enc(id)),
  };
})();
