// <metric-chart>: one Chart.js line chart over numeric x values (steps or seconds).
//
// The Chart object is kept off Vue's reactive data on purpose: Vue 2 would walk and wrap all of
// Chart.js's internals. New points are copied into the existing chart and redrawn without
// animation, so a chart that updates every second does not flicker or replay its entrance.
(function () {
  'use strict';
  const Aimass = (window.Aimass = window.Aimass || {});

  // Bootstrap's palette, so charts match the badges.
  Aimass.colors = {
    blue: 'rgb(13, 110, 253)',
    orange: 'rgb(253, 126, 20)',
    green: 'rgb(25, 135, 84)',
    purple: 'rgb(111, 66, 193)',
    red: 'rgb(220, 53, 69)',
  };

  Vue.component('metric-chart', {
    props: {
      canvasId: { type: String, required: true },
      title: { type: String, default: '' },
      xLabel: { type: String, default: 'step' },
      yLabel: { type: String, default: '' },
      // [{label, color, points: [{x, y}], dashed}]
      series: { type: Array, required: true },
    },
    template: `
      <div class="card h-100">
        <div class="card-body">
          <h6 class="card-title">{{ title }}</h6>
          <div class="chart-box"><canvas :id="canvasId" :data-test="canvasId"></canvas></div>
          <div v-if="empty" class="text-muted small" :data-test="canvasId + '-empty'">No data yet.</div>
        </div>
      </div>`,
    computed: {
      empty() {
        return this.series.every((s) => s.points.length === 0);
      },
    },
    mounted() {
      this.chart = new Chart(this.$el.querySelector('canvas'), {
        type: 'line',
        data: { datasets: this.datasets() },
        options: {
          animation: false,
          responsive: true,
          maintainAspectRatio: false,
          interaction: { mode: 'nearest', intersect: false },
          scales: {
            x: { type: 'linear', title: { display: true, text: this.xLabel } },
            y: { title: { display: !!this.yLabel, text: this.yLabel } },
          },
          plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
        },
      });
    },
    beforeDestroy() {
      if (this.chart) this.chart.destroy();
      this.chart = null;
    },
    watch: {
      series() {
        if (!this.chart) return;
        const fresh = this.datasets();
        const current = this.chart.data.datasets;
        if (current.length !== fresh.length) {
          this.chart.data.datasets = fresh;
        } else {
          fresh.forEach((d, i) => {
            current[i].data = d.data;
            current[i].label = d.label;
            current[i].pointRadius = d.pointRadius;
          });
        }
        this.chart.update('none');
      },
    },
    methods: {
      datasets() {
        return this.series.map((s) => ({
          label: s.label,
          // Plain copies: Chart.js must not see Vue's observers.
          data: s.points.map((p) => ({ x: p.x, y: p.y })),
          borderColor: s.color,
          backgroundColor: s.color,
          borderWidth: 2,
          borderDash: s.dashed ? [6, 4] : [],
          // Points only where there are few (evaluations); long step series read as a line.
          pointRadius: s.points.length > 40 ? 0 : 3,
          tension: 0.15,
        }));
      },
    },
  });
})();
