// Formatting helpers and the polling mixin shared by the views. Everything lives under
// window.Aimass: the UI has no build step, so its files share one namespace instead of modules.
(function () {
  'use strict';
  const Aimass = (window.Aimass = window.Aimass || {});

  const TERMINAL_STATES = ['succeeded', 'failed', 'cancelled', 'interrupted'];

  Aimass.format = {
    isTerminal(state) {
      return TERMINAL_STATES.indexOf(state) >= 0;
    },

    // Bootstrap colour of a job state's badge and progress bar.
    stateClass(state) {
      return {
        queued: 'secondary', running: 'primary', succeeded: 'success',
        failed: 'danger', cancelled: 'warning', interrupted: 'warning',
      }[state] || 'secondary';
    },

    // "2026-11-28T01:02:03.456Z" -> "2026-11-28 01:02:03 UTC": the service's clock, not the
    // browser's, so times read the same as in the server's log.
    time(iso) {
      if (!iso) return '';
      const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)/.exec(iso);
      return m ? m[1] + ' ' + m[2] + ' UTC' : String(iso);
    },

    seconds(s) {
      if (s === null || s === undefined || !isFinite(s)) return '';
      s = Math.max(0, s);
      if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + ' s';
      const m = Math.floor(s / 60);
      if (m < 60) return m + ' min ' + Math.round(s - 60 * m) + ' s';
      return Math.floor(m / 60) + ' h ' + (m % 60) + ' min';
    },

    // Wall time between two timestamps (to now while the job runs).
    duration(startIso, endIso) {
      if (!startIso) return '';
      const start = Date.parse(startIso);
      const end = endIso ? Date.parse(endIso) : Date.now();
      if (!isFinite(start) || !isFinite(end)) return '';
      return Aimass.format.seconds((end - start) / 1000);
    },

    number(x, digits) {
      if (x === null || x === undefined || x === '') return '';
      if (typeof x !== 'number') return String(x);
      if (Number.isInteger(x)) return x.toLocaleString('en-US');
      // Throughputs in the thousands read better whole; losses and accuracies need decimals.
      if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
      return x.toFixed(digits === undefined ? 4 : digits);
    },

    // A loss or an accuracy: always `digits` decimals, so 1 reads 1.000 beside 0.987.
    fixed(x, digits) {
      return typeof x === 'number' && isFinite(x) ? x.toFixed(digits) : '';
    },

    percent(fraction) {
      if (typeof fraction !== 'number' || !isFinite(fraction)) return 0;
      return Math.max(0, Math.min(100, fraction * 100));
    },

    shortHash(h) {
      if (!h) return '';
      const s = String(h).replace(/^sha256:/, '');
      return s.length > 12 ? s.slice(0, 12) + '…' : s;
    },

    // A summary or metrics value for a table cell: nested objects as compact JSON.
    value(v) {
      if (v === null || v === undefined) return '';
      if (typeof v === 'number') return Aimass.format.number(v);
      if (typeof v === 'object') return JSON.stringify(v);
      return String(v);
    },
  };

  // Polls `this.poll()` every `pollInterval` ms until the view is destroyed or `poll()` returns
  // false. The next round starts only after the previous one finished, so a slow server never
  // piles up requests.
  Aimass.pollingMixin = {
    data() {
      return { pollInterval: 1500 };
    },
    mounted() {
      this._pollTimer = null;
      this._pollStopped = false;
      this.startPolling();
    },
    beforeDestroy() {
      this._pollStopped = true;
      clearTimeout(this._pollTimer);
    },
    methods: {
      startPolling() {
        const round = async () => {
          if (this._pollStopped) return;
          let again = true;
          try {
            again = (await this.poll()) !== false;
          } catch (e) {
            // poll() reports its own errors; a thrown one must not end the loop.
            again = true;
          }
          if (again && !this._pollStopped) {
            this._pollTimer = setTimeout(round, this.pollInterval);
          }
        };
        round();
      },
    },
  };
})();
