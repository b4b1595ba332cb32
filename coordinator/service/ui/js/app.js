// The single-page app: hash routes (#/jobs, #/jobs/7, #/submit, #/models, #/models/NAME,
// #/datasets, #/datasets/NAME, #/audit, #/tokens, #/schedules, #/alerts), the signed-in identity and the navigation bar. Each route's view is
// remounted when the hash changes, so a view only loads what its own route names.
(function () {
  'use strict';
  const Aimass = window.Aimass;

  const ROUTES = [
    { re: /^\/jobs\/(\d+)$/, view: 'job', params: (m) => ({ id: m[1] }) },
    { re: /^\/jobs$/, view: 'jobs' },
    { re: /^\/submit$/, view: 'submit' },
    { re: /^\/models\/(.+)$/, view: 'model', params: (m) => ({ name: decodeURIComponent(m[1]) }) },
    { re: /^\/models$/, view: 'models' },
    { re: /^\/datasets\/(.+)$/, view: 'dataset', params: (m) => ({ name: decodeURIComponent(m[1]) }) },
    { re: /^\/datasets$/, view: 'datasets' },
    { re: /^\/audit$/, view: 'audit' },
    { re: /^\/tokens$/, view: 'tokens' },
    { re: /^\/schedules$/, view: 'schedules' },
    { re: /^\/alerts$/, view: 'alerts' },
  ];

  function parseHash() {
    const path = (window.location.hash || '').replace(/^#/, '') || '/jobs';
    for (const r of ROUTES) {
      const m = r.re.exec(path);
      if (m) return { view: r.view, params: r.params ? r.params(m) : {}, path };
    }
    return { view: 'notfound', params: {}, path };
  }

  const NotFound = {
    props: ['me'],
    template: `<div class="alert alert-secondary" data-test="not-found">No such page. <a href="#/jobs">Jobs</a></div>`,
  };

  window.aimassApp = new Vue({
    el: '#app',
    components: Object.assign({ notfound: NotFound }, Aimass.views),
    data: {
      route: parseHash(),
      me: null,          // GET /api/v1/whoami of the stored token, once checked
      checking: !!Aimass.api.token(),
      notice: '',        // why the user is back at the sign-in form
      alertCount: 0,     // every alert stored (GET /api/v1/alerts' total), for the nav entry
    },
    template: `
      <div>
        <nav class="navbar navbar-expand navbar-dark bg-dark mb-4">
          <div class="container-fluid">
            <a class="navbar-brand" href="#/jobs">AI Mass</a>
            <ul class="navbar-nav me-auto" v-if="me">
              <li class="nav-item"><a id="nav-jobs" class="nav-link" :class="{active: section === 'jobs'}" href="#/jobs">Jobs</a></li>
              <li class="nav-item" v-if="me.role !== 'viewer'"><a id="nav-submit" class="nav-link" :class="{active: section === 'submit'}" href="#/submit">Submit</a></li>
              <li class="nav-item"><a id="nav-models" class="nav-link" :class="{active: section === 'models'}" href="#/models">Models</a></li>
              <li class="nav-item"><a id="nav-datasets" class="nav-link" :class="{active: section === 'datasets'}" href="#/datasets">Datasets</a></li>
              <li class="nav-item"><a id="nav-schedules" class="nav-link" :class="{active: section === 'schedules'}" href="#/schedules">Schedules</a></li>
              <li class="nav-item"><a id="nav-alerts" class="nav-link" :class="{active: section === 'alerts'}" href="#/alerts">Alerts <span v-if="alertCount" class="badge bg-danger" data-test="nav-alert-count">{{ alertCount }}</span></a></li>
              <li class="nav-item" v-if="me.role === 'admin'"><a id="nav-audit" class="nav-link" :class="{active: section === 'audit'}" href="#/audit">Audit</a></li>
              <li class="nav-item" v-if="me.role === 'admin'"><a id="nav-tokens" class="nav-link" :class="{active: section === 'tokens'}" href="#/tokens">Tokens</a></li>
            </ul>
            <div v-if="me" class="d-flex align-items-center">
              <span class="navbar-text me-3 small" id="whoami" :title="me.description">
                token {{ me.token_id }} · <span data-test="role">{{ me.role }}</span><span v-if="me.description"> · {{ me.description }}</span>
              </span>
              <button id="signout" class="btn btn-outline-light btn-sm" @click="signOut('')">Sign out</button>
            </div>
          </div>
        </nav>
        <main class="container-fluid px-4 pb-5">
          <div v-if="checking" class="text-muted">Checking the token…</div>
          <signin v-else-if="!me" :notice="notice" @signed-in="signedIn"></signin>
          <component v-else :is="route.view" :key="route.path" :me="me" v-bind="route.params"></component>
        </main>
      </div>`,
    computed: {
      section() {
        if (this.route.view === 'dataset') return 'datasets';
        return this.route.view === 'job' ? 'jobs' : this.route.view === 'model' ? 'models' : this.route.view;
      },
    },
    created() {
      window.addEventListener('hashchange', () => { this.route = parseHash(); });
      Aimass.api.setUnauthenticatedHandler((message) => {
        this.signOut('The service refused the token: ' + message);
      });
      if (this.checking) this.restore();
      // The nav entry's count, refreshed every 15 s while signed in.
      const countAlerts = async () => {
        if (this.me) {
          try {
            this.alertCount = (await Aimass.api.alerts({ limit: 1 })).total;
          } catch (_) {
            // The alerts view shows the error; the count keeps its last value.
          }
        }
      };
      this.$watch('me', countAlerts);
      setInterval(countAlerts, 15000);
    },
    methods: {
      // A token from an earlier page load in this tab: still good?
      async restore() {
        try {
          this.me = await Aimass.api.whoami();
        } catch (e) {
          Aimass.api.clearToken();
          this.notice = e.status === 401 ? 'The service refused the stored token: ' + e.message : e.message;
        } finally {
          this.checking = false;
        }
      },
      signedIn(me) {
        this.notice = '';
        this.me = me;
      },
      signOut(notice) {
        Aimass.api.clearToken();
        this.me = null;
        this.notice = notice;
      },
    },
  });
})();
