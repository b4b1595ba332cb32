// Small components the views share: a job's progress bar and an API error box; and the
// mixin of views whose buttons change something (busy while the call runs, its error shown).
(function () {
  'use strict';
  const Aimass = (window.Aimass = window.Aimass || {});

  // A job's progress bar with what the fraction means (epoch or splits) and the ETA.
  Vue.component('job-progress', {
    props: ['job'],
    computed: {
      p() {
        return this.job.progress || null;
      },
      pct() {
        if (this.job.state === 'succeeded') return 100;
        return this.p ? Aimass.format.percent(this.p.fraction) : 0;
      },
      label() {
        const p = this.p;
        if (!p) return { queued: 'waiting in the queue', running: 'starting the workers' }[this.job.state] || '';
        const parts = [];
        if (p.epochs) parts.push('epoch ' + p.epoch + '/' + p.epochs);
        if (p.splits_total) parts.push(p.splits_committed + '/' + p.splits_total + ' splits');
        // The engine reports -1 while it cannot tell yet.
        if (!Aimass.format.isTerminal(this.job.state) && typeof p.eta_seconds === 'number' && p.eta_seconds >= 0) {
          parts.push('ETA ' + Aimass.format.seconds(p.eta_seconds));
        }
        return parts.join(' · ');
      },
      // A job that stopped early has no fraction left to show (the service reports progress
      // only while a job runs): a bar stuck at 0% would mislead.
      stoppedEarly() {
        return !this.p && Aimass.format.isTerminal(this.job.state) && this.job.state !== 'succeeded';
      },
      barClass() {
        const cls = ['progress-bar', 'bg-' + Aimass.format.stateClass(this.job.state)];
        if (this.job.state === 'running') cls.push('progress-bar-striped', 'progress-bar-animated');
        return cls;
      },
    },
    template: `
      <div :data-test="'job-progress-' + job.id">
        <div v-if="stoppedEarly" class="small text-muted">{{ job.state }} before the end</div>
        <template v-else>
          <div class="progress" role="progressbar" :aria-valuenow="Math.round(pct)" aria-valuemin="0" aria-valuemax="100">
            <div :class="barClass" :style="{ width: pct + '%' }"></div>
          </div>
          <div class="small text-muted">{{ Math.round(pct) }}%<span v-if="label"> · {{ label }}</span></div>
        </template>
      </div>`,
  });

  // An API error as the service worded it, with its code.
  Vue.component('api-error', {
    props: ['error'],
    template: `
      <div v-if="error" class="alert alert-danger" data-test="api-error">
        <span class="error-line" data-test="error-message">{{ error.message }}</span>
        <span class="badge bg-danger ms-1" data-test="error-code">{{ error.code }}</span>
      </div>`,
  });

  // For a view with `busy` and `error` in its data: `await this.perform(async () => ...)` runs
  // one change at a time (buttons bound to `busy` are disabled meanwhile) and shows what it
  // failed with; `confirmedTwice(id)` is true on the second click on the same row's button.
  Aimass.actionMixin = {
    data() {
      return { confirming: null };
    },
    methods: {
      async perform(change) {
        this.busy = true;
        this.error = null;
        try {
          await change();
        } catch (e) {
          this.error = e;
        } finally {
          this.busy = false;
        }
      },
      confirmedTwice(id) {
        if (this.confirming === id) return true;
        this.confirming = id;
        return false;
      },
    },
  };
})();
