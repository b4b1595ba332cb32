// API tokens (admins only): list, create (the token is shown once: the service keeps only its
// hash) and revoke. Revoking asks for a second click, and the page's own token cannot be
// revoked from here, so an admin does not lock themselves out by accident.
(function () {
  'use strict';
  const Aimass = (window.Aimass = window.Aimass || {});
  Aimass.views = Aimass.views || {};

  Aimass.views.tokens = {
    props: ['me'],
    mixins: [Aimass.actionMixin],
    data() {
      return {
        tokens: null, error: null, role: 'viewer', description: '', created: null,
        busy: false, f: Aimass.format,
      };
    },
    template: `
      <div>
        <h3 class="mb-3">API tokens</h3>
        <div v-if="me.role !== 'admin'" class="alert alert-warning" data-test="tokens-forbidden">
          Tokens are managed with an admin token.
        </div>
        <template v-else>
          <api-error :error="error"></api-error>
          <form id="token-form" class="card shadow-sm mb-3" @submit.prevent="create">
            <div class="card-body">
              <div class="row g-2 align-items-end">
                <div class="col-md-2">
                  <label for="token-role" class="form-label">Role</label>
                  <select id="token-role" class="form-select" v-model="role">
                    <option value="viewer">viewer</option>
                    <option value="operator">operator</option>
                    <option value="admin">admin</option>
                  </select>
                </div>
                <div class="col-md-7">
                  <label for="token-description" class="form-label">Description</label>
                  <input id="token-description" class="form-control" v-model.trim="description"
                         placeholder="who or what uses it" autocomplete="off">
                </div>
                <div class="col-md-3">
                  <button id="token-create" type="submit" class="btn btn-primary w-100" :disabled="busy">Create token</button>
                </div>
              </div>
              <div v-if="created" class="alert alert-success mt-3 mb-0" data-test="token-created">
                New {{ created.role }} token {{ created.id }} — copy it now, it is not shown again:
                <code class="d-block mt-1 user-select-all" data-test="new-token">{{ created.token }}</code>
              </div>
            </div>
          </form>
          <div v-if="tokens === null && !error" class="text-muted">Loading…</div>
          <div v-else-if="tokens" class="card shadow-sm">
            <table class="table table-sm mb-0" id="tokens-table">
              <thead><tr><th>#</th><th>role</th><th>description</th><th>created</th><th></th></tr></thead>
              <tbody>
                <tr v-for="t in tokens" :key="t.id" :data-test="'token-row-' + t.id">
                  <td>{{ t.id }}</td><td>{{ t.role }}</td><td>{{ t.description }}</td>
                  <td class="small">{{ f.time(t.created_at) }}</td>
                  <td class="text-end">
                    <span v-if="t.id === me.token_id" class="text-muted small">this session</span>
                    <span v-else-if="t.revoked" class="text-muted small">revoked</span>
                    <button v-else class="btn btn-sm" :class="confirming === t.id ? 'btn-danger' : 'btn-outline-danger'"
                            :data-test="'revoke-' + t.id" :disabled="busy" @click="revoke(t.id)">
                      {{ confirming === t.id ? 'Really revoke?' : 'Revoke' }}
                    </button>
                  </td>
                </tr>
              </tbody>
            </table>
          </div>
        </template>
      </div>`,
    mounted() {
      if (this.me.role === 'admin') this.load();
    },
    methods: {
      async load() {
        try {
          this.tokens = (await Aimass.api.tokens()).tokens;
          this.error = null;
        } catch (e) {
          this.error = e;
        }
      },
      async create() {
        this.created = null;
        await this.perform(async () => {
          this.created = await Aimass.api.createToken(this.role, this.description);
          this.description = '';
          await this.load();
        });
      },
      async revoke(id) {
        if (!this.confirmedTwice(id)) return;
        await this.perform(async () => {
          await Aimass.api.revokeToken(id);
          this.confirming = null;
          await this.load();
        });
      },
    },
  };
})();
