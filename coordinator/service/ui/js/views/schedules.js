// Schedules: infer jobs that run on a cron time or when a partition of an export lands
// (docs/service.md, "Schedules"). Everyone sees the list with each schedule's trigger, model,
// state and last run; operators pause, resume and delete (a second click confirms a delete),
// and create one with the small form.
(function () {
  'use strict';
  const Aimass = (window.Aimass = window.Aimass || {});
  Aimass.views = Aimass.views || {};

  const EXAMPLE_CONFIG =
    'input: {path: "{partition_path}", format: csv, header: true}\n' +
    'schema: {id: id, features: [pixel0..pixel783], shape: [1, 28, 28]}\n' +
    'output: {path: scores}\n';

  Aimass.views.schedules = {
    mixins: [Aimass.pollingMixin, Aimass.actionMixin],
    props: ['me'],
    data() {
      return {
        schedules: null, error: null, pollInterval: 3000, busy: false,
        f: Aimass.format,
        form: {
          name: '', model: '', trigger: 'on_data', cron: '0 2 * * *', path: '', partition: 'dt=*',
          misfire: 'run_once', workers: 1, config: EXAMPLE_CONFIG,
        },
        created: null,
      };
    },
    computed: {
      operator() { return this.me.role !== 'viewer'; },
    },
    template: `
      <div>
        <h3 class="mb-3">Schedules</h3>
        <api-error :error="error"></api-error>
        <form v-if="operator" id="schedule-form" class="card shadow-sm mb-3" @submit.prevent="create">
          <div class="card-body">
            <div class="row g-2">
              <div class="col-md-3">
                <label for="schedule-name" class="form-label">Name</label>
                <input id="schedule-name" class="form-control" v-model.trim="form.name" required autocomplete="off">
              </div>
              <div class="col-md-3">
                <label for="schedule-model" class="form-label">Model (NAME@ALIAS)</label>
                <input id="schedule-model" class="form-control" v-model.trim="form.model" required
                       placeholder="fmnist@production" autocomplete="off">
              </div>
              <div class="col-md-2">
                <label for="schedule-trigger" class="form-label">Trigger</label>
                <select id="schedule-trigger" class="form-select" v-model="form.trigger">
                  <option value="on_data">data lands</option>
                  <option value="cron">cron</option>
                </select>
              </div>
              <div class="col-md-2">
                <label for="schedule-workers" class="form-label">Workers</label>
                <input id="schedule-workers" type="number" min="1" class="form-control" v-model.number="form.workers">
              </div>
              <template v-if="form.trigger === 'cron'">
                <div class="col-md-6">
                  <label for="schedule-cron" class="form-label">Cron (UTC)</label>
                  <input id="schedule-cron" class="form-control font-monospace" v-model.trim="form.cron">
                </div>
                <div class="col-md-3">
                  <label for="schedule-misfire" class="form-label">After downtime</label>
                  <select id="schedule-misfire" class="form-select" v-model="form.misfire">
                    <option value="run_once">run once</option>
                    <option value="skip">skip</option>
                  </select>
                </div>
              </template>
              <template v-else>
                <div class="col-md-6">
                  <label for="schedule-path" class="form-label">Export directory</label>
                  <input id="schedule-path" class="form-control" v-model.trim="form.path" placeholder="/exports/events">
                </div>
                <div class="col-md-3">
                  <label for="schedule-partition" class="form-label">Partitions (glob)</label>
                  <input id="schedule-partition" class="form-control" v-model.trim="form.partition">
                </div>
              </template>
              <div class="col-12">
                <label for="schedule-config" class="form-label">
                  Infer config — placeholders <code>{partition}</code>, <code>{partition_path}</code>, <code>{date}</code>
                </label>
                <textarea id="schedule-config" class="form-control font-monospace" rows="5" v-model="form.config"></textarea>
              </div>
              <div class="col-md-3">
                <button id="schedule-create" type="submit" class="btn btn-primary w-100" :disabled="busy">Create schedule</button>
              </div>
              <div v-if="created" class="col-md-9 align-self-center text-success" data-test="schedule-created">
                Schedule {{ created.name }} created.
              </div>
            </div>
          </div>
        </form>
        <div v-if="schedules === null && !error" class="text-muted">Loading…</div>
        <div v-else-if="schedules && schedules.length === 0" class="text-muted" data-test="schedules-empty">
          No schedules yet.
        </div>
        <div v-else-if="schedules" class="card shadow-sm">
          <table class="table table-sm table-hover mb-0" id="schedules-table">
            <thead><tr><th>#</th><th>name</th><th>kind</th><th>trigger</th><th>model</th><th>state</th><th>last run</th><th></th></tr></thead>
            <tbody>
              <tr v-for="s in schedules" :key="s.id" :data-test="'schedule-row-' + s.id">
                <td>{{ s.id }}</td>
                <td>{{ s.name }}</td>
                <td>{{ s.kind }}</td>
                <td class="small font-monospace">
                  <span v-if="s.kind === 'cron'">{{ s.cron }}<span v-if="s.next_fire" class="text-muted"> · next {{ f.time(s.next_fire) }}</span></span>
                  <span v-else>{{ s.on_data.path }}/{{ s.on_data.partition }}</span>
                </td>
                <td>{{ s.model }}</td>
                <td><span class="badge" :class="s.state === 'active' ? 'bg-success' : 'bg-secondary'"
                          :data-test="'schedule-state-' + s.id">{{ s.state }}</span></td>
                <td class="small">
                  <span v-if="!s.last_run" class="text-muted">never</span>
                  <span v-else>{{ s.last_run.key }} →
                    <a :href="'#/jobs/' + s.last_run.job" :data-test="'schedule-last-job-' + s.id">job {{ s.last_run.job }}</a>
                    ({{ s.last_run.state }})</span>
                </td>
                <td class="text-end text-nowrap">
                  <template v-if="operator">
                    <button v-if="s.state === 'active'" class="btn btn-sm btn-outline-secondary" :disabled="busy"
                            :data-test="'pause-' + s.id" @click="act(s.id, 'pause')">Pause</button>
                    <button v-else class="btn btn-sm btn-outline-success" :disabled="busy"
                            :data-test="'resume-' + s.id" @click="act(s.id, 'resume')">Resume</button>
                    <button class="btn btn-sm ms-1" :class="confirming === s.id ? 'btn-danger' : 'btn-outline-danger'"
                            :disabled="busy" :data-test="'delete-' + s.id" @click="remove(s.id)">
                      {{ confirming === s.id ? 'Really delete?' : 'Delete' }}
                    </button>
                  </template>
                </td>
              </tr>
            </tbody>
          </table>
        </div>
      </div>`,
    methods: {
      async poll() {
        try {
          this.schedules = (await Aimass.api.schedules()).schedules;
          this.error = null;
        } catch (e) {
          this.error = e;
        }
      },
      async create() {
        this.created = null;
        const body = {
          name: this.form.name, model: this.form.model, config: this.form.config, workers: this.form.workers,
        };
        if (this.form.trigger === 'cron') {
          body.cron = this.form.cron;
          body.misfire = this.form.misfire;
        } else {
          body.on_data = { path: this.form.path, partition: this.form.partition };
        }
        await this.perform(async () => {
          this.created = await Aimass.api.createSchedule(body);
          this.form.name = '';
          await this.poll();
        });
      },
      async act(id, action) {
        await this.perform(async () => {
          await (action === 'pause' ? Aimass.api.pauseSchedule(id) : Aimass.api.resumeSchedule(id));
          await this.poll();
        });
      },
      async remove(id) {
        if (!this.confirmedTwice(id)) return;
        await this.perform(async () => {
          await Aimass.api.deleteSchedule(id);
          this.confirming = null;
          await this.poll();
        });
      },
    },
  };
})();
