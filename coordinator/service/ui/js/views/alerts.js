// The alerts the platform's watchers raised (training monitor: divergence, over-fitting,
// stalls; data checks: drift), newest first, filtered by job, model and kind
// (GET /api/v1/alerts). Polled, so a new alert appears by itself.
(function () {
  'use strict';
  const Aimass = (window.Aimass = window.Aimass || {});
  Aimass.views = Aimass.views || {};

  Aimass.views.alerts = {
    mixins: [Aimass.pollingMixin],
    props: ['me'],
    data() {
      return {
        alerts: null, total: 0, error: null, pollInterval: 5000, f: Aimass.format,
        filter: { job: '', model: '', kind: '' }, shown: null,
      };
    },
    template: `
      <div>
        <h3 class="mb-3">Alerts <span class="badge bg-secondary" data-test="alerts-total">{{ total }}</span></h3>
        <form class="row g-2 mb-3" @submit.prevent="poll" id="alerts-filter">
          <div class="col-auto"><input class="form-control form-control-sm" placeholder="job" v-model.trim="filter.job" data-test="filter-job"></div>
          <div class="col-auto"><input class="form-control form-control-sm" placeholder="model" v-model.trim="filter.model" data-test="filter-model"></div>
          <div class="col-auto">
            <select class="form-select form-select-sm" v-model="filter.kind" data-test="filter-kind">
              <option value="">every kind</option>
              <option v-for="k in kinds" :key="k" :value="k">{{ k }}</option>
            </select>
          </div>
          <div class="col-auto"><button class="btn btn-outline-primary btn-sm" type="submit">Filter</button></div>
        </form>
        <api-error :error="error"></api-error>
        <div v-if="alerts === null && !error" class="text-muted">Loading…</div>
        <div v-else-if="alerts && alerts.length === 0" class="text-muted" data-test="alerts-empty">No alerts.</div>
        <div v-else-if="alerts" class="card shadow-sm">
          <table class="table table-sm table-hover mb-0" id="alerts-table">
            <thead><tr><th>#</th><th>when</th><th>kind</th><th>severity</th><th>job</th><th>model</th><th>message</th><th></th></tr></thead>
            <tbody>
              <template v-for="a in alerts">
                <tr :key="a.id" :data-test="'alert-row-' + a.id">
                  <td>{{ a.id }}</td>
                  <td class="small text-nowrap">{{ f.time(a.at) }}</td>
                  <td class="mono" :data-test="'alert-kind-' + a.id">{{ a.kind }}</td>
                  <td><span class="badge" :class="a.severity === 'alert' ? 'bg-danger' : 'bg-warning text-dark'">{{ a.severity }}</span></td>
                  <td><a v-if="a.job !== null" :href="'#/jobs/' + a.job">job {{ a.job }}</a></td>
                  <td><a v-if="a.model" :href="'#/models/' + encodeURIComponent(a.model)" class="mono">{{ a.model }}<span v-if="a.version !== null"> v{{ a.version }}</span></a></td>
                  <td class="small error-line">{{ a.message }}</td>
                  <td><button v-if="a.details" class="btn btn-link btn-sm p-0" :data-test="'alert-details-' + a.id"
                              @click="shown = shown === a.id ? null : a.id">{{ shown === a.id ? 'hide' : 'details' }}</button></td>
                </tr>
                <tr v-if="shown === a.id" :key="'d' + a.id">
                  <td colspan="8"><pre class="mono small mb-0">{{ JSON.stringify(a.details, null, 2) }}</pre></td>
                </tr>
              </template>
            </tbody>
          </table>
        </div>
      </div>`,
    computed: {
      kinds() {
        return ['divergence', 'overfitting', 'stalled', 'drift', 'prediction_drift'];
      },
    },
    methods: {
      async poll() {
        const query = {};
        if (this.filter.job) query.job = this.filter.job;
        if (this.filter.model) query.model = this.filter.model;
        if (this.filter.kind) query.kind = this.filter.kind;
        try {
          const r = await Aimass.api.alerts(query);
          this.alerts = r.alerts;
          this.total = r.total;
          this.error = null;
        } catch (e) {
          this.error = e;
        }
      },
    },
  };
})();
