// A model version's evaluation report (GET .../versions/{v}/evaluation): per-class precision,
// recall, F1 and support with the confusion matrix; with a second version chosen, both side
// by side with the difference (B - A) per class and both matrices. Shown on the model page.
(function () {
  'use strict';
  const Aimass = (window.Aimass = window.Aimass || {});

  const pct = (x) => (typeof x === 'number' ? (100 * x).toFixed(1) : '—');
  const diff = (a, b) => (typeof a === 'number' && typeof b === 'number' ? 100 * (b - a) : null);

  // One confusion matrix, each cell shaded by its share of its row (the true class).
  Vue.component('confusion-matrix', {
    props: ['report', 'label'],
    template: `
      <div class="table-responsive">
        <div class="small text-muted mb-1">{{ label }}: rows true class, columns predicted</div>
        <table class="table table-sm table-bordered mono small mb-0" :data-test="'confusion-' + label">
          <thead><tr><th></th><th v-for="(c, j) in report.confusion" :key="j">{{ j }}</th></tr></thead>
          <tbody>
            <tr v-for="(row, i) in report.confusion" :key="i">
              <th>{{ i }}</th>
              <td v-for="(n, j) in row" :key="j" :style="shade(row, n, i === j)">{{ n }}</td>
            </tr>
          </tbody>
        </table>
      </div>`,
    methods: {
      shade(row, n, diagonal) {
        const total = row.reduce((s, x) => s + x, 0);
        if (!total || !n) return {};
        const alpha = (0.15 + 0.6 * (n / total)).toFixed(2);
        return { background: diagonal ? 'rgba(25,135,84,' + alpha + ')' : 'rgba(220,53,69,' + alpha + ')' };
      },
    },
  });

  Vue.component('evaluation-report', {
    props: ['name', 'versions'],  // versions: the model's, newest first
    data() {
      return { a: null, b: '', reports: {}, errors: {} };
    },
    template: `
      <div class="card shadow-sm mb-3" id="evaluation-report"><div class="card-body">
        <div class="d-flex align-items-center flex-wrap mb-2">
          <h6 class="card-title me-auto mb-0">Evaluation report</h6>
          <label class="small me-1" for="eval-a">version</label>
          <select id="eval-a" class="form-select form-select-sm w-auto me-2" v-model.number="a" data-test="eval-version-a">
            <option v-for="v in versions" :key="v.version" :value="v.version">v{{ v.version }}</option>
          </select>
          <label class="small me-1" for="eval-b">compare with</label>
          <select id="eval-b" class="form-select form-select-sm w-auto" v-model="b" data-test="eval-version-b">
            <option value="">—</option>
            <option v-for="v in versions" :key="v.version" :value="String(v.version)" :disabled="v.version === a">v{{ v.version }}</option>
          </select>
        </div>
        <div v-for="v in shown" :key="'e' + v">
          <div v-if="errors[v]" class="alert alert-secondary py-2 small" :data-test="'eval-none-' + v">v{{ v }}: {{ errors[v] }}</div>
        </div>
        <template v-if="reportA || reportB">
          <table class="table table-sm mb-2" id="evaluation-classes">
            <thead>
              <tr><th>class</th><th colspan="4">v{{ a }}</th><template v-if="b !== ''"><th colspan="4">v{{ b }}</th><th colspan="3">difference (points)</th></template></tr>
              <tr class="small"><th></th><th>precision</th><th>recall</th><th>F1</th><th>support</th>
                <template v-if="b !== ''"><th>precision</th><th>recall</th><th>F1</th><th>support</th><th>precision</th><th>recall</th><th>F1</th></template></tr>
            </thead>
            <tbody class="mono small">
              <tr v-for="row in rows" :key="row.label" :data-test="'eval-class-' + row.label">
                <th>{{ row.label }}</th>
                <td>{{ pct(row.a.precision) }}</td><td>{{ pct(row.a.recall) }}</td><td>{{ pct(row.a.f1) }}</td><td>{{ row.a.support }}</td>
                <template v-if="b !== ''">
                  <td>{{ pct(row.b.precision) }}</td><td>{{ pct(row.b.recall) }}</td><td>{{ pct(row.b.f1) }}</td><td>{{ row.b.support }}</td>
                  <td v-for="k in ['precision', 'recall', 'f1']" :key="k" :class="diffClass(row, k)">{{ diffText(row, k) }}</td>
                </template>
              </tr>
              <tr v-for="avg in averages" :key="avg.key" class="fw-bold">
                <th>{{ avg.label }}</th>
                <td>{{ pct(avg.a.precision) }}</td><td>{{ pct(avg.a.recall) }}</td><td>{{ pct(avg.a.f1) }}</td><td></td>
                <template v-if="b !== ''">
                  <td>{{ pct(avg.b.precision) }}</td><td>{{ pct(avg.b.recall) }}</td><td>{{ pct(avg.b.f1) }}</td><td></td>
                  <td v-for="k in ['precision', 'recall', 'f1']" :key="k" :class="diffClass(avg, k)">{{ diffText(avg, k) }}</td>
                </template>
              </tr>
            </tbody>
          </table>
          <div class="small mb-2" data-test="eval-accuracy"><span v-if="reportA">accuracy v{{ a }}: {{ pct(reportA.accuracy) }}% of {{ reportA.records }} test records</span><span v-if="reportA && reportB"> · </span><span v-if="reportB">v{{ b }}: {{ pct(reportB.accuracy) }}% of {{ reportB.records }}</span></div>
          <div class="row">
            <div class="col-md" v-if="reportA"><confusion-matrix :report="reportA" :label="'v' + a"></confusion-matrix></div>
            <div class="col-md" v-if="reportB"><confusion-matrix :report="reportB" :label="'v' + b"></confusion-matrix></div>
          </div>
        </template>
      </div></div>`,
    computed: {
      shown() {
        return [this.a, this.b === '' ? null : Number(this.b)].filter((v) => v !== null);
      },
      reportA() {
        return this.reports[this.a] || null;
      },
      reportB() {
        return this.b === '' ? null : this.reports[Number(this.b)] || null;
      },
      rows() {
        const empty = { precision: null, recall: null, f1: null, support: '' };
        const labels = new Set();
        for (const r of [this.reportA, this.reportB]) if (r) r.classes.forEach((c) => labels.add(c.label));
        const find = (r, label) => (r && r.classes.find((c) => c.label === label)) || empty;
        return Array.from(labels).sort((x, y) => x - y)
          .map((label) => ({ label, a: find(this.reportA, label), b: find(this.reportB, label) }));
      },
      averages() {
        const none = {};
        return [['macro_avg', 'macro avg'], ['weighted_avg', 'weighted avg']].map(([key, label]) => ({
          key, label, a: this.reportA ? this.reportA[key] : none, b: this.reportB ? this.reportB[key] : none,
        }));
      },
    },
    watch: {
      versions: {
        immediate: true,
        handler(versions) {
          if (this.a === null && versions && versions.length) this.a = versions[0].version;
        },
      },
      shown: {
        immediate: true,
        handler(list) {
          list.forEach((v) => this.load(v));
        },
      },
    },
    methods: {
      pct,
      diffText(row, k) {
        const d = diff(row.a[k], row.b[k]);
        return d === null ? '' : (d > 0 ? '+' : '') + d.toFixed(1);
      },
      diffClass(row, k) {
        const d = diff(row.a[k], row.b[k]);
        return d === null || Math.abs(d) < 0.05 ? '' : d > 0 ? 'text-success' : 'text-danger';
      },
      async load(version) {
        if (version === null || this.reports[version] || this.errors[version]) return;
        try {
          const r = await Aimass.api.evaluation(this.name, version);
          this.$set(this.reports, version, r.report);
        } catch (e) {
          this.$set(this.errors, version, e.message);
        }
      },
    },
  });
})();
