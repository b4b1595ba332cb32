// The dataset catalogue: the list of registered datasets (#/datasets), and one dataset
// (#/datasets/NAME) with its schema, per-column statistics, the histogram of the column picked
// in the table (Chart.js bars over the profile's bins) and its lineage: the model versions
// trained on it and the inference jobs that scored it.
(function () {
  'use strict';
  const Aimass = (window.Aimass = window.Aimass || {});
  Aimass.views = Aimass.views || {};

  const STATE_CLASS = { ready: 'bg-success', profiling: 'bg-info text-dark', failed: 'bg-danger' };

  Aimass.views.datasets = {
    mixins: [Aimass.pollingMixin],
    props: ['me'],
    data() {
      return { datasets: null, error: null, pollInterval: 3000, f: Aimass.format, stateClass: STATE_CLASS };
    },
    template: `
      <div>
        <h3 class="mb-3">Datasets</h3>
        <api-error :error="error"></api-error>
        <div v-if="datasets === null && !error" class="text-muted">Loading…</div>
        <div v-else-if="datasets && datasets.length === 0" class="text-muted" data-test="datasets-empty">
          No datasets yet: POST /api/v1/datasets registers an export under a data root.
        </div>
        <div v-else-if="datasets" class="card shadow-sm">
          <table class="table table-hover mb-0" id="datasets-table">
            <thead><tr><th>dataset</th><th>state</th><th>records</th><th>format</th><th>owner</th><th>path</th><th>registered</th></tr></thead>
            <tbody>
              <tr v-for="d in datasets" :key="d.name" :data-test="'dataset-row-' + d.name">
                <td><a :href="'#/datasets/' + encodeURIComponent(d.name)" :data-test="'dataset-link-' + d.name">{{ d.name }}</a>
                  <div class="small text-muted">{{ d.description }}</div></td>
                <td><span class="badge" :class="stateClass[d.state]" :data-test="'dataset-state-' + d.name">{{ d.state }}</span></td>
                <td class="mono" :data-test="'dataset-records-' + d.name">{{ d.records === null ? '—' : f.number(d.records, 0) }}</td>
                <td>{{ d.input && d.input.format ? d.input.format : 'csv' }}</td>
                <td>{{ d.owner }}</td>
                <td class="mono small">{{ d.path }}</td>
                <td class="small">{{ f.time(d.created_at) }}</td>
              </tr>
            </tbody>
          </table>
        </div>
      </div>`,
    methods: {
      async poll() {
        try {
          this.datasets = (await Aimass.api.datasets()).datasets;
          this.error = null;
        } catch (e) {
          this.error = e;
        }
      },
    },
  };

  Aimass.views.dataset = {
    mixins: [Aimass.pollingMixin],
    props: ['me', 'name'],
    data() {
      return { dataset: null, error: null, column: null, filter: '', pollInterval: 3000, f: Aimass.format,
               stateClass: STATE_CLASS };
    },
    template: `
      <div>
        <div class="d-flex align-items-center mb-3">
          <h3 class="me-auto mb-0">Dataset <span class="mono" data-test="dataset-name">{{ name }}</span></h3>
          <a href="#/datasets" class="btn btn-link btn-sm">all datasets</a>
        </div>
        <api-error :error="error"></api-error>
        <div v-if="!dataset && !error" class="text-muted">Loading…</div>
        <template v-if="dataset">
          <div class="card shadow-sm mb-3"><div class="card-body">
            <span class="badge me-2" :class="stateClass[dataset.state]" data-test="dataset-state">{{ dataset.state }}</span>
            <span class="mono small">{{ dataset.path }}</span>
            <div class="mt-2">{{ dataset.description }}</div>
            <div class="small text-muted">owner {{ dataset.owner }} · registered {{ f.time(dataset.created_at) }} by {{ dataset.created_by }}</div>
            <div class="mt-2" v-if="dataset.records !== null">
              <b data-test="dataset-records">{{ f.number(dataset.records, 0) }}</b> records,
              {{ (dataset.schema || []).length }} columns<span v-if="profile && profile.bad_records">,
              {{ profile.bad_records }} bad records</span>
            </div>
            <div v-if="dataset.state === 'failed'" class="alert alert-danger py-2 mt-2 mb-0" data-test="dataset-error">{{ dataset.error }}</div>
          </div></div>

          <div class="row mb-3" v-if="profile">
            <div class="col-lg-7">
              <div class="card shadow-sm h-100"><div class="card-body">
                <div class="d-flex align-items-center mb-2">
                  <h6 class="card-title me-auto mb-0">Columns</h6>
                  <input class="form-control form-control-sm w-auto" placeholder="filter" v-model.trim="filter" data-test="column-filter">
                </div>
                <div class="table-responsive" style="max-height: 28rem">
                  <table class="table table-sm table-hover mb-0" id="columns-table">
                    <thead class="sticky-top bg-white"><tr><th>column</th><th>type</th><th>count</th><th>missing</th><th>min</th><th>max</th><th>mean</th><th>std</th><th>median</th></tr></thead>
                    <tbody>
                      <tr v-for="c in shownColumns" :key="c.name" :data-test="'column-' + c.name" style="cursor: pointer"
                          :class="{ 'table-active': column === c.name }" @click="column = c.name">
                        <td class="mono">{{ c.name }}</td><td>{{ c.type }}</td>
                        <template v-if="c.stats">
                          <td class="mono">{{ c.stats.count }}</td><td class="mono">{{ c.stats.missing }}</td>
                          <td class="mono">{{ f.value(c.stats.min) }}</td><td class="mono">{{ f.value(c.stats.max) }}</td>
                          <td class="mono">{{ f.value(c.stats.mean) }}</td><td class="mono">{{ f.value(c.stats.std) }}</td>
                          <td class="mono">{{ f.value(c.stats.quantiles[2]) }}</td>
                        </template>
                        <td v-else colspan="7" class="text-muted small">not numeric: counted, not profiled</td>
                      </tr>
                    </tbody>
                  </table>
                </div>
              </div></div>
            </div>
            <div class="col-lg-5">
              <div class="card shadow-sm h-100"><div class="card-body">
                <h6 class="card-title">Histogram <span class="mono" data-test="histogram-column">{{ column }}</span></h6>
                <div class="chart-box"><canvas id="column-histogram" data-test="column-histogram"></canvas></div>
                <div v-if="!selected" class="text-muted small">Pick a numeric column.</div>
              </div></div>
            </div>
          </div>

          <div class="card shadow-sm"><div class="card-body">
            <h6 class="card-title">Lineage</h6>
            <div class="small text-muted mb-1">Model versions trained on it</div>
            <div v-if="trained.length === 0" class="text-muted small mb-2" data-test="lineage-trained-empty">None.</div>
            <ul v-else class="mb-2" data-test="lineage-trained">
              <li v-for="t in trained" :key="t.model + t.version">
                <a :href="'#/models/' + encodeURIComponent(t.model)">{{ t.model }} v{{ t.version }}</a>
                <a v-if="t.job_id !== null" :href="'#/jobs/' + t.job_id" class="small ms-1">job {{ t.job_id }}</a>
              </li>
            </ul>
            <div class="small text-muted mb-1">Inference jobs that scored it</div>
            <div v-if="scored.length === 0" class="text-muted small" data-test="lineage-scored-empty">None.</div>
            <ul v-else class="mb-0" data-test="lineage-scored">
              <li v-for="s in scored" :key="s.job_id">
                <a :href="'#/jobs/' + s.job_id">job {{ s.job_id }}</a> <span class="mono small">{{ s.model }}</span>
                <span class="badge ms-1" :class="'bg-' + f.stateClass(s.state)">{{ s.state }}</span>
              </li>
            </ul>
          </div></div>
        </template>
      </div>`,
    computed: {
      profile() {
        return this.dataset && this.dataset.profile ? this.dataset.profile : null;
      },
      columns() {
        if (!this.dataset) return [];  // the watcher of `selected` runs before the first load
        const stats = {};
        for (const feature of (this.profile && this.profile.features) || []) stats[feature.name] = feature;
        return (this.dataset.schema || []).map((c) => ({ name: c.name, type: c.type, stats: stats[c.name] || null }));
      },
      shownColumns() {
        if (!this.filter) return this.columns;
        return this.columns.filter((c) => c.name.indexOf(this.filter) >= 0);
      },
      selected() {
        const c = this.columns.find((x) => x.name === this.column);
        return c && c.stats ? c.stats : null;
      },
      trained() {
        return (this.dataset && this.dataset.lineage && this.dataset.lineage.trained) || [];
      },
      scored() {
        return (this.dataset && this.dataset.lineage && this.dataset.lineage.scored) || [];
      },
    },
    watch: {
      selected() {
        this.$nextTick(() => this.draw());
      },
    },
    beforeDestroy() {
      if (this.chart) this.chart.destroy();
      this.chart = null;
    },
    methods: {
      async poll() {
        try {
          this.dataset = await Aimass.api.dataset(this.name);
          this.error = null;
          if (this.column === null) {
            const first = this.columns.find((c) => c.stats);
            if (first) this.column = first.name;
          }
        } catch (e) {
          this.error = e;
          return e.status !== 404;
        }
        // Nothing changes once profiling has ended but the lineage, which is worth a slow look.
        this.pollInterval = this.dataset.state === 'profiling' ? 1500 : 15000;
        return true;
      },
      // Bars over the profile's bins; the outer two are open-ended, labelled "< edge" and ">= edge".
      draw() {
        const canvas = this.$el.querySelector && this.$el.querySelector('#column-histogram');
        if (!canvas) return;
        if (this.chart) this.chart.destroy();
        this.chart = null;
        const s = this.selected;
        if (!s) return;
        const edges = s.edges || [];
        const labels = (s.bins || []).map((_, i) => {
          if (i === 0) return '< ' + this.f.value(edges[0]);
          if (i === edges.length) return '≥ ' + this.f.value(edges[edges.length - 1]);
          return this.f.value(edges[i - 1]) + '–' + this.f.value(edges[i]);
        });
        this.chart = new Chart(canvas, {
          type: 'bar',
          data: { labels, datasets: [{ label: this.column, data: s.bins, backgroundColor: Aimass.colors.blue }] },
          options: { animation: false, responsive: true, maintainAspectRatio: false,
                     plugins: { legend: { display: false } },
                     scales: { y: { title: { display: true, text: 'records (sample)' } } } },
        });
      },
    },
  };
})();
