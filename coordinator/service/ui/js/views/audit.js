// The audit log (admins only; the navigation hides it from other roles and the service
// refuses them anyway).
(function () {
  'use strict';
  const Aimass = (window.Aimass = window.Aimass || {});
  Aimass.views = Aimass.views || {};

  Aimass.views.audit = {
    mixins: [Aimass.pollingMixin],
    props: ['me'],
    data() {
      return { entries: null, error: null, pollInterval: 5000, f: Aimass.format };
    },
    template: `
      <div>
        <h3 class="mb-3">Audit log</h3>
        <div v-if="me.role !== 'admin'" class="alert alert-warning" data-test="audit-forbidden">
          The audit log is for admin tokens only.
        </div>
        <template v-else>
          <api-error :error="error"></api-error>
          <div v-if="entries === null && !error" class="text-muted">Loading…</div>
          <div v-else-if="entries" class="card shadow-sm">
            <table class="table table-sm table-hover mb-0" id="audit-table">
              <thead><tr><th>#</th><th>when</th><th>actor</th><th>action</th><th>target</th><th>from</th></tr></thead>
              <tbody>
                <tr v-for="e in entries" :key="e.id" :data-test="'audit-row-' + e.id">
                  <td>{{ e.id }}</td><td class="small">{{ f.time(e.at) }}</td><td class="small">{{ e.actor }}</td>
                  <td class="mono">{{ e.action }}</td><td class="mono small">{{ e.target }}</td>
                  <td class="small">{{ e.remote }}</td>
                </tr>
              </tbody>
            </table>
          </div>
        </template>
      </div>`,
    methods: {
      async poll() {
        if (this.me.role !== 'admin') return false;
        try {
          this.entries = (await Aimass.api.audit()).entries;
          this.error = null;
        } catch (e) {
          this.error = e;
          return e.status !== 403;
        }
      },
    },
  };
})();
