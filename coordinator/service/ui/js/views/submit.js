// Submit a job: kind, workers, the model name to register it as, and the job's YAML. The
// service validates the config; its error line is shown exactly as it was sent.
(function () {
  'use strict';
  const Aimass = (window.Aimass = window.Aimass || {});
  Aimass.views = Aimass.views || {};

  Aimass.views.submit = {
    props: ['me'],
    data() {
      return { kind: 'train', workers: 2, registerAs: '', config: '', busy: false, error: null };
    },
    template: `
      <div>
        <h3 class="mb-3">Submit a job</h3>
        <div v-if="me.role === 'viewer'" class="alert alert-warning" data-test="submit-forbidden">
          Submitting needs an operator or admin token; this one is a viewer's.
        </div>
        <form v-else id="submit-form" class="card shadow-sm" @submit.prevent="submit">
          <div class="card-body">
            <div class="row g-3">
              <div class="col-md-3">
                <label for="submit-kind" class="form-label">Kind</label>
                <select id="submit-kind" class="form-select" v-model="kind">
                  <option value="train">train</option>
                  <option value="infer">infer</option>
                </select>
              </div>
              <div class="col-md-3">
                <label for="submit-workers" class="form-label">Workers</label>
                <input id="submit-workers" type="number" min="1" step="1" class="form-control" v-model.number="workers">
              </div>
              <div class="col-md-6" v-if="kind === 'train'">
                <label for="submit-register-as" class="form-label">Register as model <span class="text-muted">(optional)</span></label>
                <input id="submit-register-as" type="text" class="form-control" v-model.trim="registerAs"
                       placeholder="e.g. fmnist" autocomplete="off">
              </div>
              <div class="col-12">
                <div class="d-flex align-items-end mb-1">
                  <label for="submit-config" class="form-label me-auto mb-0">Job config (YAML)</label>
                  <label class="btn btn-outline-secondary btn-sm mb-0">Load a file…
                    <input type="file" accept=".yaml,.yml,text/yaml,text/plain" class="d-none" id="submit-config-file" @change="loadFile">
                  </label>
                </div>
                <textarea id="submit-config" class="form-control config-text" rows="14" v-model="config"
                          spellcheck="false" :placeholder="placeholder"></textarea>
                <div class="form-text">Paths in the config must lie under one of the service's --data-root directories.</div>
              </div>
            </div>
            <api-error :error="error" class="mt-3 mb-0" data-test="submit-error"></api-error>
            <button id="submit-button" type="submit" class="btn btn-primary mt-3" :disabled="busy || !config.trim()">
              {{ busy ? 'Submitting…' : 'Submit' }}
            </button>
          </div>
        </form>
      </div>`,
    computed: {
      placeholder() {
        return this.kind === 'train'
          ? 'model: mlp\ndata:\n  train: /data/fmnist/train\n  test: /data/fmnist/test\ntraining: {epochs: 2, batch_size: 32}\n...'
          : 'model: /data/runs/fmnist\ninput: {path: /data/exports/events, format: csv}\nschema: {id: event_id, features: [f0..f783]}\noutput: {path: /data/scores/events}\n...';
      },
    },
    watch: {
      // The error was about the config as submitted; once it is edited, it no longer applies.
      config() {
        this.error = null;
      },
    },
    methods: {
      loadFile(event) {
        const file = event.target.files && event.target.files[0];
        if (!file) return;
        const reader = new FileReader();
        reader.onload = () => { this.config = String(reader.result); };
        reader.readAsText(file);
        event.target.value = '';
      },
      async submit() {
        this.busy = true;
        this.error = null;
        const body = { kind: this.kind, config: this.config, workers: this.workers };
        if (this.kind === 'train' && this.registerAs) body.register_as = this.registerAs;
        try {
          const created = await Aimass.api.submitJob(body);
          window.location.hash = '#/jobs/' + created.id;
        } catch (e) {
          this.error = e;
        } finally {
          this.busy = false;
        }
      },
    },
  };
})();
