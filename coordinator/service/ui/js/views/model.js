// One model: its versions with their metrics side by side, its aliases, and the buttons that
// move an alias (promote a version, or roll the alias back to where it pointed before).
(function () {
  'use strict';
  const Aimass = (window.Aimass = window.Aimass || {});
  Aimass.views = Aimass.views || {};

  // Metrics most worth comparing come first; any others follow in name order.
  const METRIC_ORDER = ['test_accuracy', 'test_loss', 'samples_per_second'];

  Aimass.views.model = {
    mixins: [Aimass.pollingMixin],
    props: ['me', 'name'],
    data() {
      return {
        model: null, error: null, actionError: null, notice: '', busy: false,
        alias: 'production', shownConfig: null, pollInterval: 5000, f: Aimass.format,
      };
    },
    template: `
      <div>
        <div class="d-flex align-items-center mb-3">
          <h3 class="me-auto mb-0">Model <span class="mono" data-test="model-name">{{ name }}</span></h3>
          <a href="#/models" class="btn btn-link btn-sm">all models</a>
        </div>
        <api-error :error="error"></api-error>
        <div v-if="!model && !error" class="text-muted">Loading…</div>
        <template v-if="model">
          <div class="card shadow-sm mb-3"><div class="card-body">
            <h6 class="card-title">Aliases</h6>
            <div v-if="aliasNames.length === 0" class="text-muted small" data-test="aliases-empty">No aliases yet.</div>
            <div v-for="a in aliasNames" :key="a" class="d-flex align-items-center mb-2">
              <span class="badge bg-info text-dark fs-6 me-2" :data-test="'alias-' + a">{{ a }} → v{{ model.aliases[a] }}</span>
              <button v-if="canOperate && rollbackTarget(a) !== null" class="btn btn-outline-secondary btn-sm"
                      :data-test="'rollback-' + a" :disabled="busy" @click="move(a, rollbackTarget(a))">
                Roll back to v{{ rollbackTarget(a) }}
              </button>
            </div>
            <div v-if="notice" class="alert alert-success py-2 mt-2 mb-0" data-test="alias-notice">{{ notice }}</div>
            <api-error :error="actionError" class="mt-2 mb-0"></api-error>
          </div></div>

          <div class="card shadow-sm mb-3"><div class="card-body">
            <div class="d-flex align-items-center mb-2">
              <h6 class="card-title me-auto mb-0">Versions</h6>
              <template v-if="canOperate">
                <label for="promote-alias" class="small me-2">alias to move</label>
                <input id="promote-alias" class="form-control form-control-sm w-auto" v-model.trim="alias">
              </template>
            </div>
            <!-- Versions are columns and metrics rows, so versions sit side by side however many
                 metrics a run reports. -->
            <div class="table-responsive">
              <table class="table table-sm mb-0" id="versions-table">
                <thead><tr>
                  <th></th>
                  <th v-for="v in versions" :key="v.version" :data-test="'version-' + v.version">v{{ v.version }}
                    <span v-for="a in aliasesOf(v.version)" :key="a" class="badge bg-info text-dark ms-1">{{ a }}</span>
                  </th>
                </tr></thead>
                <tbody>
                  <tr><th class="small">job</th>
                    <td v-for="v in versions" :key="v.version">
                      <a v-if="v.job !== null && v.job !== undefined" :href="'#/jobs/' + v.job">job {{ v.job }}</a>
                    </td></tr>
                  <tr v-for="k in metricKeys" :key="k">
                    <th class="mono small">{{ k }}</th>
                    <td v-for="v in versions" :key="v.version" class="mono" :data-test="'metric-' + v.version + '-' + k"
                        :class="{ 'fw-bold text-success': best[k] === v.version }">{{ v.metrics ? f.value(v.metrics[k]) : '' }}</td>
                  </tr>
                  <tr><th class="small">dataset</th>
                    <td v-for="v in versions" :key="v.version" class="mono small" :title="v.dataset">{{ f.shortHash(v.dataset) }}</td></tr>
                  <tr><th class="small">artifact</th>
                    <td v-for="v in versions" :key="v.version" class="mono small" :title="v.sha256">{{ f.shortHash(v.sha256) }}</td></tr>
                  <tr><th class="small">created</th>
                    <td v-for="v in versions" :key="v.version" class="small">{{ f.time(v.created_at) }}<br>{{ v.created_by }}</td></tr>
                  <tr><th></th>
                    <td v-for="v in versions" :key="v.version" class="text-nowrap">
                      <button v-if="canOperate" class="btn btn-primary btn-sm me-1" :data-test="'promote-' + v.version"
                              :disabled="busy || !alias || model.aliases[alias] === v.version"
                              @click="move(alias, v.version)">Promote to {{ alias || '…' }}</button>
                      <button class="btn btn-outline-secondary btn-sm" :data-test="'show-config-' + v.version"
                              @click="toggleConfig(v.version)">{{ shownConfig === v.version ? 'hide' : 'config' }}</button>
                    </td></tr>
                </tbody>
              </table>
            </div>
            <div v-if="shownVersion" class="mt-2">
              <div class="small text-muted">v{{ shownVersion.version }}'s config</div>
              <pre class="mono small mb-0 p-2 bg-light border rounded" :data-test="'config-' + shownVersion.version">{{ shownVersion.config }}</pre>
            </div>
          </div></div>

          <evaluation-report :name="name" :versions="versions"></evaluation-report>

          <div class="card shadow-sm"><div class="card-body">
            <h6 class="card-title">Alias history</h6>
            <div v-if="history.length === 0" class="text-muted small">No alias has moved yet.</div>
            <table v-else class="table table-sm mb-0" id="alias-history">
              <thead><tr><th>when</th><th>alias</th><th>from</th><th>to</th><th>by</th></tr></thead>
              <tbody>
                <tr v-for="(h, i) in history" :key="i" :data-test="'alias-history-' + i">
                  <td class="small">{{ f.time(h.at) }}</td><td>{{ h.alias }}</td>
                  <td>{{ h.from === null || h.from === undefined ? '—' : 'v' + h.from }}</td>
                  <td>{{ h.to === null || h.to === undefined ? '—' : 'v' + h.to }}</td>
                  <td class="small">{{ h.by }}</td>
                </tr>
              </tbody>
            </table>
          </div></div>
        </template>
      </div>`,
    computed: {
      canOperate() {
        return this.me.role === 'operator' || this.me.role === 'admin';
      },
      versions() {
        // Newest first, like the jobs list.
        return (this.model.versions || []).slice().sort((a, b) => b.version - a.version);
      },
      metricKeys() {
        const keys = new Set();
        for (const v of this.model.versions || []) Object.keys(v.metrics || {}).forEach((k) => keys.add(k));
        return Array.from(keys).sort((a, b) => {
          const ia = METRIC_ORDER.indexOf(a);
          const ib = METRIC_ORDER.indexOf(b);
          if (ia !== ib) return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
          return a < b ? -1 : a > b ? 1 : 0;
        });
      },
      // Per metric, the version with the best value (when it is clear which way is better and
      // there is more than one version to compare).
      best() {
        const out = {};
        const versions = this.model.versions || [];
        if (versions.length < 2) return out;
        for (const k of this.metricKeys) {
          const higher = /accuracy|per_second/.test(k);
          const lower = /loss/.test(k);
          if (!higher && !lower) continue;
          let bestVersion = null;
          let bestValue = null;
          for (const v of versions) {
            const x = v.metrics ? v.metrics[k] : undefined;
            if (typeof x !== 'number' || !isFinite(x)) continue;
            if (bestValue === null || (higher ? x > bestValue : x < bestValue)) {
              bestValue = x;
              bestVersion = v.version;
            }
          }
          out[k] = bestVersion;
        }
        return out;
      },
      shownVersion() {
        return (this.model.versions || []).find((v) => v.version === this.shownConfig) || null;
      },
      aliasNames() {
        return Object.keys(this.model.aliases || {}).sort();
      },
      // Alias moves oldest first, whatever order the service lists them in (ties keep it).
      moves() {
        return (this.model.alias_history || [])
          .map((h, i) => ({ h, i }))
          .sort((a, b) => (a.h.at < b.h.at ? -1 : a.h.at > b.h.at ? 1 : a.i - b.i))
          .map((e) => e.h);
      },
      history() {
        return this.moves.slice().reverse();  // newest first on screen
      },
    },
    methods: {
      // Polled slowly: a version registered by a job that just ended appears by itself.
      async poll() {
        await this.load();
        return !(this.error && this.error.status === 404);
      },
      async load() {
        try {
          this.model = await Aimass.api.model(this.name);
          this.error = null;
        } catch (e) {
          this.error = e;
        }
      },
      aliasesOf(version) {
        return this.aliasNames.filter((a) => this.model.aliases[a] === version);
      },
      // Where the alias pointed before its latest move, if anywhere: the roll-back target.
      rollbackTarget(alias) {
        const moves = this.moves.filter((h) => h.alias === alias);
        if (moves.length === 0) return null;
        const last = moves[moves.length - 1];
        return last.from === null || last.from === undefined ? null : last.from;
      },
      async move(alias, version) {
        this.busy = true;
        this.actionError = null;
        this.notice = '';
        try {
          const r = await Aimass.api.setAlias(this.name, alias, version);
          this.notice = r.alias + ' now points at v' + r.version +
            (r.previous === null || r.previous === undefined ? '' : ' (was v' + r.previous + ')') + '.';
          await this.load();
        } catch (e) {
          this.actionError = e;
        } finally {
          this.busy = false;
        }
      },
      toggleConfig(version) {
        this.shownConfig = this.shownConfig === version ? null : version;
      },
    },
  };
})();
