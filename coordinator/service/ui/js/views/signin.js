// Sign in: the token is checked with GET /api/v1/whoami before it is kept.
(function () {
  'use strict';
  const Aimass = (window.Aimass = window.Aimass || {});
  Aimass.views = Aimass.views || {};

  Aimass.views.signin = {
    props: ['notice'],
    data() {
      return { token: '', busy: false, error: null };
    },
    template: `
      <div class="row justify-content-center mt-5">
        <div class="col-md-6 col-lg-5">
          <div class="card shadow-sm">
            <div class="card-body">
              <h4 class="card-title mb-3">Sign in</h4>
              <div v-if="notice && !error" class="alert alert-warning" data-test="signin-notice">{{ notice }}</div>
              <form @submit.prevent="signIn" id="signin-form">
                <label for="token-input" class="form-label">API token</label>
                <input id="token-input" v-model.trim="token" type="password" class="form-control mono"
                       autocomplete="off" placeholder="the token from admin.token or POST /api/v1/tokens">
                <div class="form-text">Kept in this tab only (sessionStorage).</div>
                <api-error :error="error" class="mt-3 mb-0"></api-error>
                <button id="signin-button" type="submit" class="btn btn-primary mt-3" :disabled="busy || !token">
                  {{ busy ? 'Checking…' : 'Sign in' }}
                </button>
              </form>
            </div>
          </div>
        </div>
      </div>`,
    methods: {
      async signIn() {
        this.busy = true;
        this.error = null;
        try {
          const me = await Aimass.api.whoami(this.token);
          Aimass.api.setToken(this.token);
          this.$emit('signed-in', me);
        } catch (e) {
          this.error = e;
        } finally {
          this.busy = false;
        }
      },
    },
  };
})();
