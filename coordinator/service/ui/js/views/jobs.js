// The jobs list: every job with its live state and progress, polled.
(function () {
  'use strict';
  const Aimass = (window.Aimass = window.Aimass || {});
  Aimass.views = Aimass.views || {};

  Aimass.views.jobs = {
    mixins: [Aimass.pollingMixin],
    props: ['me'],
    data() {
      return { jobs: null, error: null, pollInterval: 1000, f: Aimass.format };
    },
    template: `
      <div>
        <div class="d-flex align-items-center mb-3">
          <h3 class="me-auto mb-0">Jobs</h3>
          <a v-if="me.role !== 'viewer'" href="#/submit" class="btn btn-primary btn-sm" id="jobs-submit">Submit a job</a>
        </div>
        <api-error :error="error"></api-error>
        <div v-if="jobs === null && !error" class="text-muted">Loading…</div>
        <div v-else-if="jobs && jobs.length === 0" class="text-muted" data-test="jobs-empty">No jobs yet.</div>
        <div v-else-if="jobs" class="card shadow-sm">
          <table class="table table-sm table-hover mb-0" id="jobs-table">
            <thead><tr>
              <th>#</th><th>kind</th><th>state</th><th>progress</th><th>figures</th>
              <th>workers</th><th>model</th><th>by</th><th>submitted</th><th>took</th>
            </tr></thead>
            <tbody>
              <tr v-for="job in jobs" :key="job.id" :data-test="'job-row-' + job.id">
                <td><a :href="'#/jobs/' + job.id" :data-test="'job-link-' + job.id">{{ job.id }}</a></td>
                <td>{{ job.kind }}</td>
                <td><span class="badge" :class="'bg-' + f.stateClass(job.state)"
                          :data-test="'job-state-' + job.id">{{ job.state }}</span></td>
                <td><job-progress :job="job"></job-progress></td>
                <td class="mono small" :data-test="'job-figures-' + job.id">{{ figures(job) }}</td>
                <td>{{ job.workers }}</td>
                <td :data-test="'job-model-' + job.id"><a v-if="job.model" :href="'#/models/' + encodeURIComponent(job.model.name)">{{ job.model.name }} v{{ job.model.version }}</a>
                    <span v-else-if="job.register_as" class="text-muted">{{ job.register_as }}</span></td>
                <td class="small">{{ job.submitted_by }}</td>
                <td class="small">{{ f.time(job.created_at) }}</td>
                <td class="small">{{ f.duration(job.started_at, job.finished_at) }}</td>
              </tr>
            </tbody>
          </table>
        </div>
      </div>`,
    methods: {
      // The figure worth a glance: live loss and accuracy while training runs, the test
      // accuracy once it is done; records for inference.
      figures(job) {
        const f = Aimass.format;
        const p = job.progress;
        const s = job.summary;
        if (p && typeof p.loss === 'number') return 'loss ' + f.fixed(p.loss, 3) + ' · acc ' + f.fixed(p.accuracy, 3);
        if (p && typeof p.records === 'number') return f.number(p.records) + ' records';
        if (s && typeof s.test_accuracy === 'number') return 'test acc ' + f.fixed(s.test_accuracy, 4);
        if (s && typeof s.records_out === 'number') return f.number(s.records_out) + ' records out';
        return '';
      },
      async poll() {
        try {
          this.jobs = (await Aimass.api.jobs(100)).jobs;
          this.error = null;
        } catch (e) {
          this.error = e;
        }
      },
    },
  };
})();
