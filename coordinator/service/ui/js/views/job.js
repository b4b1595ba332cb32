// One job: state, progress, charts of its metrics, its log, summary and error; operators may
// cancel it. The job and its metrics are polled every second while it is queued or running,
// and for a few rounds after it ends. While it runs the log streams (GET .../log?follow=1), so
// a long log is sent once rather than on every poll; where streaming fails, and after the end,
// the log is read whole with the rest.
(function () {
  'use strict';
  const Aimass = (window.Aimass = window.Aimass || {});
  Aimass.views = Aimass.views || {};
  const C = () => Aimass.colors;

  Aimass.views.job = {
    mixins: [Aimass.pollingMixin],
    props: ['me', 'id'],
    data() {
      return {
        job: null, metrics: null, log: '', error: null, cancelError: null, cancelling: false,
        followLog: true, logStreaming: true, logCut: false, f: Aimass.format,
        pollInterval: 1000,  // a job of a few seconds still shows its charts grow
        roundsSinceEnd: 0,
      };
    },
    template: `
      <div>
        <div class="d-flex align-items-center mb-3">
          <h3 class="me-3 mb-0">Job <span data-test="job-id">{{ id }}</span></h3>
          <span v-if="job" class="badge fs-6 me-auto" :class="'bg-' + f.stateClass(job.state)" id="job-state">{{ job.state }}</span>
          <span v-else class="me-auto"></span>
          <button v-if="canCancel" id="job-cancel" class="btn btn-outline-danger btn-sm"
                  :disabled="cancelling" @click="cancel">{{ cancelling ? 'Cancelling…' : 'Cancel job' }}</button>
        </div>
        <api-error :error="error"></api-error>
        <api-error :error="cancelError"></api-error>
        <div v-if="!job && !error" class="text-muted">Loading…</div>
        <template v-if="job">
          <div v-if="job.error" class="alert alert-danger" id="job-error">
            <strong>Error:</strong> <span class="error-line">{{ job.error }}</span>
          </div>
          <div class="card shadow-sm mb-3"><div class="card-body py-2">
            <div class="row align-items-center g-2">
              <div class="col-lg-5"><job-progress :job="job"></job-progress></div>
              <div class="col-lg-7 small mono" id="job-progress-line">{{ progressLine }}</div>
            </div>
          </div></div>
          <div class="row g-3 mb-3" v-if="job.kind === 'train'">
            <div class="col-lg-4"><metric-chart canvas-id="chart-loss" title="Loss" y-label="loss" :series="lossSeries"></metric-chart></div>
            <div class="col-lg-4"><metric-chart canvas-id="chart-accuracy" title="Accuracy" y-label="accuracy" :series="accuracySeries"></metric-chart></div>
            <div class="col-lg-4"><metric-chart canvas-id="chart-throughput" title="Throughput" y-label="samples/s" :series="throughputSeries"></metric-chart></div>
          </div>
          <div class="row g-3 mb-3" v-else>
            <div class="col-lg-6"><metric-chart canvas-id="chart-records" title="Records" x-label="seconds" y-label="records" :series="recordsSeries"></metric-chart></div>
            <div class="col-lg-6"><metric-chart canvas-id="chart-splits" title="Splits committed" x-label="seconds" y-label="splits" :series="splitsSeries"></metric-chart></div>
          </div>
          <div class="row g-3 mb-3">
            <div class="col-lg-5">
              <div class="card shadow-sm h-100"><div class="card-body">
                <table class="table table-sm mb-0" id="job-details">
                  <tbody>
                    <tr><th>kind</th><td>{{ job.kind }}</td></tr>
                    <tr><th>workers</th><td>{{ job.workers }}</td></tr>
                    <tr><th>submitted by</th><td>{{ job.submitted_by }}</td></tr>
                    <tr><th>submitted</th><td>{{ f.time(job.created_at) }}</td></tr>
                    <tr><th>started</th><td>{{ f.time(job.started_at) }}</td></tr>
                    <tr><th>finished</th><td>{{ f.time(job.finished_at) }}</td></tr>
                    <tr><th>took</th><td>{{ f.duration(job.started_at, job.finished_at) }}</td></tr>
                    <tr v-if="job.resumes > 0"><th>resumed</th><td>{{ job.resumes }} {{ job.resumes === 1 ? 'time' : 'times' }} after the server stopped while it ran</td></tr>
                    <tr v-if="job.register_as || job.model"><th>model</th><td>
                      <a v-if="job.model" id="job-model" :href="'#/models/' + encodeURIComponent(job.model.name)">{{ job.model.name }} v{{ job.model.version }}</a>
                      <span v-else>{{ job.register_as }} (registered when it succeeds)</span>
                    </td></tr>
                    <tr><th>directory</th><td class="mono small">{{ job.directory }}</td></tr>
                  </tbody>
                </table>
              </div></div>
            </div>
            <div class="col-lg-7">
              <div class="card shadow-sm h-100"><div class="card-body">
                <h6 class="card-title">Summary</h6>
                <div v-if="!job.summary" class="text-muted small">{{ f.isTerminal(job.state) ? 'None: the job ' + job.state + '.' : 'Once the job has succeeded.' }}</div>
                <div v-else class="summary-box">
                  <table class="table table-sm mb-0" id="job-summary">
                    <tbody>
                      <tr v-for="(v, k) in job.summary" :key="k" :data-test="'summary-' + k">
                        <th class="mono">{{ k }}</th><td class="mono">{{ f.value(v) }}</td>
                      </tr>
                    </tbody>
                  </table>
                </div>
              </div></div>
            </div>
          </div>
          <div class="card shadow-sm">
            <div class="card-body">
              <div class="d-flex align-items-center mb-2">
                <h6 class="card-title me-auto mb-0">Log</h6>
                <div class="form-check form-switch small mb-0">
                  <input class="form-check-input" type="checkbox" id="job-log-follow" v-model="followLog">
                  <label class="form-check-label" for="job-log-follow">follow</label>
                </div>
              </div>
              <div v-if="logCut" class="small text-muted mb-1">Earlier lines are not shown (the log is longer than this page keeps).</div>
              <pre class="job-log mb-0" id="job-log" ref="log" :data-log-source="logStreaming ? 'stream' : 'poll'">{{ log || '(no output yet)' }}</pre>
            </div>
          </div>
        </template>
      </div>`,
    mounted() {
      this._gone = false;
      this.streamLog();
    },
    beforeDestroy() {
      this._gone = true;
      if (this._logAbort) this._logAbort.abort();
    },
    computed: {
      canCancel() {
        return this.job && this.me.role !== 'viewer' && !Aimass.format.isTerminal(this.job.state);
      },
      // The live figures while the job runs; its headline results once it has succeeded.
      progressLine() {
        const p = this.job && this.job.progress;
        const f = Aimass.format;
        const s = this.job && this.job.summary;
        if (!p && s) {
          const parts = [];
          if (typeof s.test_accuracy === 'number') parts.push('test accuracy ' + f.fixed(s.test_accuracy, 4));
          if (typeof s.test_loss === 'number') parts.push('test loss ' + f.fixed(s.test_loss, 4));
          if (typeof s.records_out === 'number') parts.push(f.number(s.records_out) + ' records out');
          if (typeof s.samples_per_second === 'number') parts.push(f.number(Math.round(s.samples_per_second)) + ' samples/s');
          if (typeof s.records_per_second === 'number') parts.push(f.number(Math.round(s.records_per_second)) + ' records/s');
          return parts.join(' · ');
        }
        if (!p) return '';
        if (this.job.kind === 'train') {
          return 'step ' + p.step_in_epoch + '/' + p.steps_per_epoch + ' · loss ' + f.fixed(p.loss, 4) +
            ' · acc ' + f.fixed(p.accuracy, 4) + ' · ' + f.number(Math.round(p.samples_per_second || 0)) + ' samples/s';
        }
        return f.number(p.records) + ' records · ' + f.number(Math.round(p.records_per_second || 0)) + ' records/s';
      },
      steps() {
        return (this.metrics && this.metrics.steps) || [];
      },
      evaluations() {
        return (this.metrics && this.metrics.evaluations) || [];
      },
      splits() {
        return (this.metrics && this.metrics.splits) || [];
      },
      lossSeries() {
        return [
          { label: 'train loss', color: C().blue, points: pick(this.steps, 'step', 'loss') },
          { label: 'test loss', color: C().orange, dashed: true, points: pick(this.evaluations, 'step', 'test_loss') },
        ];
      },
      accuracySeries() {
        return [
          { label: 'train accuracy', color: C().blue, points: pick(this.steps, 'step', 'accuracy') },
          { label: 'test accuracy', color: C().orange, dashed: true, points: pick(this.evaluations, 'step', 'test_accuracy') },
        ];
      },
      throughputSeries() {
        return [{ label: 'samples/s', color: C().green, points: pick(this.steps, 'step', 'samples_per_second') }];
      },
      // Each split reports its own records: the chart adds them up as splits commit.
      recordsSeries() {
        const splits = this.splits.slice().sort((a, b) => a.elapsed_seconds - b.elapsed_seconds);
        return [
          { label: 'records in', color: C().blue, points: cumulative(splits, 'records_in') },
          { label: 'records out', color: C().green, dashed: true, points: cumulative(splits, 'records_out') },
        ];
      },
      splitsSeries() {
        return [{ label: 'splits committed', color: C().purple, points: pick(this.splits, 'elapsed_seconds', 'splits_committed') }];
      },
    },
    methods: {
      async poll() {
        const id = this.id;
        try {
          const job = await Aimass.api.job(id);
          const ended = Aimass.format.isTerminal(job.state);
          // Metrics and log after the job: a job that just ended has all of them by now. Once it
          // has ended the log is read whole, since the stream may have closed before its last lines.
          const metrics = await Aimass.api.jobMetrics(id);
          const log = this.logStreaming && !ended ? null : await Aimass.api.jobLog(id);
          this.job = job;
          this.metrics = metrics;
          if (log !== null) this.setLog(log);
          this.error = null;
          if (!ended) return true;
          // The service records a job's final state before it registers the job's model and
          // writes its last log lines, so a few more rounds after the end pick those up (and
          // more while the model of a succeeded register_as job is still missing).
          this.roundsSinceEnd += 1;
          const modelPending = job.state === 'succeeded' && job.register_as && !job.model;
          return this.roundsSinceEnd < (modelPending ? 30 : 3);
        } catch (e) {
          this.error = e;
          // A job that does not exist will not appear; anything else may be passing.
          return e.status !== 404 && e.status !== 403;
        }
      },
      // Reads GET .../log?follow=1 until the job ends. The stream starts with the whole log (the
      // service sends the last part of a very long one), so a reconnect replaces what was shown.
      async streamLog() {
        if (this._gone) return;
        const controller = new AbortController();
        this._logAbort = controller;
        let text = '';
        try {
          const response = await Aimass.api.openJobLog(this.id, controller.signal);
          const reader = response.body.getReader();
          const decoder = new TextDecoder();
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            text += decoder.decode(value, { stream: true });
            this.setLog(text);
          }
          text += decoder.decode();
          this.setLog(text);
        } catch (e) {
          if (this._gone || (e && e.name === 'AbortError')) return;
          // No streaming here (or the service refused it): poll the log instead.
          this.logStreaming = false;
          if (this.job && Aimass.format.isTerminal(this.job.state)) this.fetchLogOnce();
          return;
        }
        if (this._gone) return;
        // The stream ended: the job is over, or the connection was cut (then follow again).
        // The state may not have been polled yet, so check it rather than trust this.job.
        try {
          const job = await Aimass.api.job(this.id);
          if (Aimass.format.isTerminal(job.state)) {
            this.fetchLogOnce();
            return;
          }
        } catch (e) {
          // Fall through: retry the stream in a moment.
        }
        setTimeout(() => this.streamLog(), 2000);
      },
      // The whole log once more, after the job ended: nothing after the stream's end is lost.
      async fetchLogOnce() {
        try {
          this.setLog(await Aimass.api.jobLog(this.id));
        } catch (e) {
          this.error = e;
        }
      },
      setLog(text) {
        // Keep the page responsive with a huge log: show its last megabyte.
        const KEEP = 1 << 20;
        this.logCut = text.length > KEEP;
        if (this.logCut) text = text.slice(text.length - KEEP);
        if (text === this.log) return;
        this.log = text;
        const box = this.$refs.log;
        if (this.followLog && box) this.$nextTick(() => { box.scrollTop = box.scrollHeight; });
      },
      async cancel() {
        this.cancelling = true;
        this.cancelError = null;
        try {
          this.job = await Aimass.api.cancelJob(this.id);
        } catch (e) {
          this.cancelError = e;
        } finally {
          this.cancelling = false;
        }
      },
    },
  };

  // [{x: elapsed seconds, y: running total of `key`}] over rows in time order.
  function cumulative(rows, key) {
    const points = [];
    let total = 0;
    for (const r of rows) {
      if (typeof r[key] !== 'number' || typeof r.elapsed_seconds !== 'number') continue;
      total += r[key];
      points.push({ x: r.elapsed_seconds, y: total });
    }
    return points;
  }

  // [{x, y}] from the rows that have both fields as finite numbers.
  function pick(rows, xKey, yKey) {
    const points = [];
    for (const r of rows) {
      const x = r[xKey];
      const y = r[yKey];
      if (typeof x === 'number' && typeof y === 'number' && isFinite(x) && isFinite(y)) points.push({ x, y });
    }
    return points;
  }
})();
