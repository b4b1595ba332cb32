// The model registry: each model with its latest version and where its aliases point.
(function () {
  'use strict';
  const Aimass = (window.Aimass = window.Aimass || {});
  Aimass.views = Aimass.views || {};

  Aimass.views.models = {
    mixins: [Aimass.pollingMixin],
    props: ['me'],
    data() {
      return { models: null, error: null, pollInterval: 3000 };
    },
    template: `
      <div>
        <h3 class="mb-3">Models</h3>
        <api-error :error="error"></api-error>
        <div v-if="models === null && !error" class="text-muted">Loading…</div>
        <div v-else-if="models && models.length === 0" class="text-muted" data-test="models-empty">
          No models yet: a train job submitted with “register as” adds one when it succeeds.
        </div>
        <div v-else-if="models" class="card shadow-sm">
          <table class="table table-hover mb-0" id="models-table">
            <thead><tr><th>model</th><th>latest version</th><th>versions</th><th>aliases</th></tr></thead>
            <tbody>
              <tr v-for="m in models" :key="m.name" :data-test="'model-row-' + m.name">
                <td><a :href="'#/models/' + encodeURIComponent(m.name)" :data-test="'model-link-' + m.name">{{ m.name }}</a></td>
                <td>v{{ m.latest_version }}</td>
                <td>{{ m.versions }}</td>
                <td>
                  <span v-for="(v, alias) in m.aliases" :key="alias" class="badge bg-info text-dark me-1"
                        :data-test="'model-alias-' + m.name + '-' + alias">{{ alias }} → v{{ v }}</span>
                </td>
              </tr>
            </tbody>
          </table>
        </div>
      </div>`,
    methods: {
      async poll() {
        try {
          this.models = (await Aimass.api.models()).models;
          this.error = null;
        } catch (e) {
          this.error = e;
        }
      },
    },
  };
})();
