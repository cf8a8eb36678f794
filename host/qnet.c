/* qnet.c - the Q-network object of qnet.h on its two backends.
 *
 * REF keeps the five flat buffers (params, target, grad, adam m, adam v) on
 * the host and calls ref_update / ref_q_forward / ref_argmax. OPENCL is not
 * built yet in this revision and reports CLDQN_ERR_ARG. */
#include "cldqn/qnet.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cldqn/ref.h"

struct cldqn_qnet {
    cldqn_backend backend;
    cldqn_layout lay;
    cldqn_learn_config cfg;
    cldqn_qnet_options opt;
    int adam_t; /* Adam steps taken so far */
    /* REF backend: host buffers, each lay.total floats. */
    float *buf[5]; /* indexed by cldqn_qnet_buffer */
    float *q;      /* (max_states, A) scratch for greedy */
};

cldqn_qnet_options cldqn_qnet_default_options(void)
{
    cldqn_qnet_options o = {CLDQN_BACKEND_OPENCL, NULL, 32, 1, 0};
    return o;
}

static cldqn_status check_config(const cldqn_learn_config *c)
{
    if (!(c->gamma >= 0.0f && c->gamma <= 1.0f))
        return cldqn_fail(CLDQN_ERR_ARG, "gamma %g not in [0,1]", c->gamma);
    if (!(c->lr > 0.0f) || !isfinite(c->lr))
        return cldqn_fail(CLDQN_ERR_ARG, "learning rate %g must be > 0", c->lr);
    if (!(c->beta1 >= 0.0f && c->beta1 < 1.0f) || !(c->beta2 >= 0.0f && c->beta2 < 1.0f))
        return cldqn_fail(CLDQN_ERR_ARG, "Adam betas %g, %g not in [0,1)", c->beta1, c->beta2);
    if (!(c->eps > 0.0f)) return cldqn_fail(CLDQN_ERR_ARG, "Adam eps %g must be > 0", c->eps);
    if (c->loss != CLDQN_LOSS_MSE && c->loss != CLDQN_LOSS_HUBER)
        return cldqn_fail(CLDQN_ERR_ARG, "unknown loss kind %d", (int)c->loss);
    if (c->loss == CLDQN_LOSS_HUBER && !(c->huber_delta > 0.0f))
        return cldqn_fail(CLDQN_ERR_ARG, "Huber delta %g must be > 0", c->huber_delta);
    if (!(c->max_grad_norm >= 0.0f))
        return cldqn_fail(CLDQN_ERR_ARG, "max grad norm %g must be >= 0", c->max_grad_norm);
    if (c->mode != CLDQN_UPDATE_MEAN && c->mode != CLDQN_UPDATE_PER_SAMPLE)
        return cldqn_fail(CLDQN_ERR_ARG, "unknown update mode %d", (int)c->mode);
    if (c->adam != CLDQN_ADAM_TORCH && c->adam != CLDQN_ADAM_KERAS)
        return cldqn_fail(CLDQN_ERR_ARG, "unknown Adam kind %d", (int)c->adam);
    return CLDQN_OK;
}

/* Rejects states/actions out of range before they index a buffer. */
static cldqn_status check_states(const cldqn_qnet *net, const int32_t *s, int n, const char *what)
{
    for (int i = 0; i < n; i++)
        if (s[i] < 0 || s[i] >= net->lay.shape.n_states)
            return cldqn_fail(CLDQN_ERR_ARG, "%s[%d] = %d not in [0,%d)", what, i, (int)s[i],
                              net->lay.shape.n_states);
    return CLDQN_OK;
}

static cldqn_status check_batch(const cldqn_qnet *net, const cldqn_batch *b)
{
    if (!b || !b->state || !b->action || !b->reward || !b->next_state || !b->terminated)
        return cldqn_fail(CLDQN_ERR_ARG, "batch has a NULL array");
    if (b->n < 1 || b->n > net->opt.max_batch)
        return cldqn_fail(CLDQN_ERR_ARG, "batch size %d not in [1,%d]", b->n, net->opt.max_batch);
    cldqn_status st = check_states(net, b->state, b->n, "state");
    if (st == CLDQN_OK) st = check_states(net, b->next_state, b->n, "next_state");
    if (st != CLDQN_OK) return st;
    for (int i = 0; i < b->n; i++)
        if (b->action[i] < 0 || b->action[i] >= net->lay.shape.n_actions)
            return cldqn_fail(CLDQN_ERR_ARG, "action[%d] = %d not in [0,%d)", i, (int)b->action[i],
                              net->lay.shape.n_actions);
    return CLDQN_OK;
}

cldqn_status cldqn_qnet_create(const cldqn_layout *lay, const cldqn_learn_config *cfg,
                               const cldqn_qnet_options *opt, const float *params, cldqn_qnet **out)
{
    if (!out) return cldqn_fail(CLDQN_ERR_ARG, "qnet_create: NULL output pointer");
    *out = NULL;
    if (!lay || !cfg || !params) return cldqn_fail(CLDQN_ERR_ARG, "qnet_create: NULL argument");
    cldqn_qnet_options o = opt ? *opt : cldqn_qnet_default_options();
    if (lay->total == 0 || lay->shape.n_states < 1 || lay->shape.n_actions < 1 ||
        lay->shape.embed < 1)
        return cldqn_fail(CLDQN_ERR_ARG, "qnet_create: empty network layout");
    if (o.max_batch < 1 || o.max_states < 1)
        return cldqn_fail(CLDQN_ERR_ARG, "qnet_create: max_batch %d and max_states %d must be >= 1",
                          o.max_batch, o.max_states);
    cldqn_status st = check_config(cfg);
    if (st != CLDQN_OK) return st;
    if (o.backend == CLDQN_BACKEND_OPENCL)
        return cldqn_fail(CLDQN_ERR_ARG, "qnet_create: the OpenCL backend is not built yet");
    if (o.backend != CLDQN_BACKEND_REF)
        return cldqn_fail(CLDQN_ERR_ARG, "qnet_create: unknown backend %d", (int)o.backend);

    cldqn_qnet *net = calloc(1, sizeof *net);
    if (!net) return cldqn_fail(CLDQN_ERR_NOMEM, "qnet_create: out of memory");
    net->backend = o.backend;
    net->lay = *lay;
    net->cfg = *cfg;
    net->opt = o;
    for (int i = 0; i < 5; i++) {
        net->buf[i] = calloc(lay->total, sizeof(float));
        if (!net->buf[i]) {
            cldqn_qnet_free(net);
            return cldqn_fail(CLDQN_ERR_NOMEM, "qnet_create: out of memory for %zu floats",
                              lay->total);
        }
    }
    net->q = malloc((size_t)o.max_states * (size_t)lay->shape.n_actions * sizeof(float));
    if (!net->q) {
        cldqn_qnet_free(net);
        return cldqn_fail(CLDQN_ERR_NOMEM, "qnet_create: out of memory");
    }
    memcpy(net->buf[CLDQN_BUF_PARAMS], params, lay->total * sizeof(float));
    memcpy(net->buf[CLDQN_BUF_TARGET], params, lay->total * sizeof(float));
    *out = net;
    return CLDQN_OK;
}

void cldqn_qnet_free(cldqn_qnet *net)
{
    if (!net) return;
    for (int i = 0; i < 5; i++) free(net->buf[i]);
    free(net->q);
    free(net);
}

cldqn_status cldqn_qnet_update(cldqn_qnet *net, const cldqn_batch *batch, float *loss)
{
    if (!net) return cldqn_fail(CLDQN_ERR_ARG, "qnet_update: NULL network");
    cldqn_status st = check_batch(net, batch);
    if (st != CLDQN_OK) return st;
    float l = ref_update(&net->lay, &net->cfg, net->buf[CLDQN_BUF_PARAMS],
                         net->buf[CLDQN_BUF_TARGET], net->buf[CLDQN_BUF_ADAM_M],
                         net->buf[CLDQN_BUF_ADAM_V], &net->adam_t, batch, net->buf[CLDQN_BUF_GRAD]);
    if (loss) {
        if (!isfinite(l))
            return cldqn_fail(CLDQN_ERR_NUMERIC, "qnet_update: loss is %g (diverged?)", l);
        *loss = l;
    }
    return CLDQN_OK;
}

cldqn_status cldqn_qnet_sync_target(cldqn_qnet *net)
{
    if (!net) return cldqn_fail(CLDQN_ERR_ARG, "qnet_sync_target: NULL network");
    memcpy(net->buf[CLDQN_BUF_TARGET], net->buf[CLDQN_BUF_PARAMS], net->lay.total * sizeof(float));
    return CLDQN_OK;
}

cldqn_status cldqn_qnet_q_values(cldqn_qnet *net, const int32_t *states, int n, float *q)
{
    if (!net || !states || !q) return cldqn_fail(CLDQN_ERR_ARG, "qnet_q_values: NULL argument");
    if (n < 1 || n > net->opt.max_states)
        return cldqn_fail(CLDQN_ERR_ARG, "qnet_q_values: %d states not in [1,%d]", n,
                          net->opt.max_states);
    cldqn_status st = check_states(net, states, n, "states");
    if (st != CLDQN_OK) return st;
    ref_q_forward(&net->lay, net->buf[CLDQN_BUF_PARAMS], states, n, q);
    return CLDQN_OK;
}

cldqn_status cldqn_qnet_greedy(cldqn_qnet *net, const int32_t *states, int n, int32_t *actions)
{
    if (!net || !states || !actions) return cldqn_fail(CLDQN_ERR_ARG, "qnet_greedy: NULL argument");
    cldqn_status st = cldqn_qnet_q_values(net, states, n, net ? net->q : NULL);
    if (st != CLDQN_OK) return st;
    ref_argmax(net->q, n, net->lay.shape.n_actions, actions);
    return CLDQN_OK;
}

static cldqn_status check_buffer(const cldqn_qnet *net, cldqn_qnet_buffer which, const void *p)
{
    if (!net || !p) return cldqn_fail(CLDQN_ERR_ARG, "qnet buffer copy: NULL argument");
    if ((int)which < 0 || (int)which > CLDQN_BUF_ADAM_V)
        return cldqn_fail(CLDQN_ERR_ARG, "qnet buffer copy: unknown buffer %d", (int)which);
    return CLDQN_OK;
}

cldqn_status cldqn_qnet_read(cldqn_qnet *net, cldqn_qnet_buffer which, float *out)
{
    cldqn_status st = check_buffer(net, which, out);
    if (st != CLDQN_OK) return st;
    memcpy(out, net->buf[which], net->lay.total * sizeof(float));
    return CLDQN_OK;
}

cldqn_status cldqn_qnet_write(cldqn_qnet *net, cldqn_qnet_buffer which, const float *in)
{
    cldqn_status st = check_buffer(net, which, in);
    if (st != CLDQN_OK) return st;
    memcpy(net->buf[which], in, net->lay.total * sizeof(float));
    return CLDQN_OK;
}

int cldqn_qnet_adam_step(const cldqn_qnet *net)
{
    return net ? net->adam_t : 0;
}

void cldqn_qnet_set_adam_step(cldqn_qnet *net, int t)
{
    if (net) net->adam_t = t;
}

const cldqn_layout *cldqn_qnet_layout(const cldqn_qnet *net)
{
    return net ? &net->lay : NULL;
}

const char *cldqn_qnet_device_name(const cldqn_qnet *net)
{
    (void)net;
    return "host reference";
}
