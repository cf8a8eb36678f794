/* net.c - the Q-network's flat parameter layout and its initialisation.
 *
 * The layout lists the tensors in PyTorch state_dict order (embedding,
 * fc1..fcL, out) with contiguous offsets, so a PyTorch state_dict flattened in
 * that order is exactly our parameter array. Initialisation draws from the
 * caller's generator in tensor order, row-major, so a seed fixes the weights
 * on every backend. */
#include "cldqn/net.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

cldqn_net_shape cldqn_net_default_shape(void)
{
    cldqn_net_shape s = {.n_states = 500, .n_actions = 6, .embed = 10, .hidden = 50, .layers = 2};
    return s;
}

static void add_tensor(cldqn_layout *lay, const char *name, int rows, int cols)
{
    cldqn_tensor *t = &lay->t[lay->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->offset = lay->total;
    t->rows = rows;
    t->cols = cols;
    lay->total += cldqn_tensor_numel(t);
}

cldqn_status cldqn_layout_init(const cldqn_net_shape *shape, cldqn_layout *lay)
{
    if (!shape || !lay) return cldqn_fail(CLDQN_ERR_ARG, "layout: NULL shape or layout");
    const cldqn_net_shape s = *shape;
    if (s.n_states <= 0) return cldqn_fail(CLDQN_ERR_ARG, "network: states %d <= 0", s.n_states);
    if (s.n_actions <= 0) return cldqn_fail(CLDQN_ERR_ARG, "network: actions %d <= 0", s.n_actions);
    if (s.embed <= 0) return cldqn_fail(CLDQN_ERR_ARG, "network: embedding size %d <= 0", s.embed);
    if (s.hidden <= 0) return cldqn_fail(CLDQN_ERR_ARG, "network: hidden size %d <= 0", s.hidden);
    if (s.layers < 0 || s.layers > CLDQN_MAX_HIDDEN_LAYERS)
        return cldqn_fail(CLDQN_ERR_ARG, "network: hidden layers %d not in [0,%d]", s.layers,
                          CLDQN_MAX_HIDDEN_LAYERS);
    /* Kernels index the flat arrays with int, so the total must fit one.
     * Each factor is < 2^31, so the products below cannot overflow size_t. */
    double total = (double)s.n_states * s.embed;
    int in = s.embed;
    for (int l = 0; l < s.layers; l++) {
        total += (double)s.hidden * in + s.hidden;
        in = s.hidden;
    }
    total += (double)s.n_actions * in + s.n_actions;
    if (total > (double)INT_MAX)
        return cldqn_fail(CLDQN_ERR_ARG, "network: %.0f parameters exceed the limit of %d", total,
                          INT_MAX);

    memset(lay, 0, sizeof *lay);
    lay->shape = s;
    add_tensor(lay, "embedding.weight", s.n_states, s.embed);
    in = s.embed;
    for (int l = 1; l <= s.layers; l++) {
        char name[24];
        snprintf(name, sizeof name, "fc%d.weight", l);
        add_tensor(lay, name, s.hidden, in);
        snprintf(name, sizeof name, "fc%d.bias", l);
        add_tensor(lay, name, s.hidden, 0);
        in = s.hidden;
    }
    add_tensor(lay, "out.weight", s.n_actions, in);
    add_tensor(lay, "out.bias", s.n_actions, 0);
    return CLDQN_OK;
}

const cldqn_tensor *cldqn_layout_find(const cldqn_layout *lay, const char *name)
{
    if (!lay || !name) return NULL;
    for (int i = 0; i < lay->n_tensors; i++)
        if (!strcmp(lay->t[i].name, name)) return &lay->t[i];
    return NULL;
}

size_t cldqn_tensor_numel(const cldqn_tensor *t)
{
    return (size_t)t->rows * (size_t)(t->cols ? t->cols : 1);
}

/* Fan-in and fan-out of the Linear layer a weight or bias belongs to: biases
 * follow their weight, which comes just before them in the layout. */
static void linear_fans(const cldqn_layout *lay, int i, int *fan_in, int *fan_out)
{
    const cldqn_tensor *w = lay->t[i].cols ? &lay->t[i] : &lay->t[i - 1];
    *fan_in = w->cols;
    *fan_out = w->rows;
}

void cldqn_params_init(const cldqn_layout *lay, cldqn_init_kind kind, cldqn_rng *rng, float *params)
{
    for (int i = 0; i < lay->n_tensors; i++) {
        const cldqn_tensor *t = &lay->t[i];
        float *p = params + t->offset;
        size_t n = cldqn_tensor_numel(t);
        if (i == 0) { /* embedding.weight */
            for (size_t k = 0; k < n; k++)
                p[k] = kind == CLDQN_INIT_TORCH ? cldqn_rng_normal(rng)
                                                : cldqn_rng_uniform(rng, -0.05f, 0.05f);
            continue;
        }
        int fan_in, fan_out;
        linear_fans(lay, i, &fan_in, &fan_out);
        if (kind == CLDQN_INIT_TORCH) {
            /* nn.Linear.reset_parameters: kaiming_uniform(a=sqrt(5)) for the
             * weight gives bound 1/sqrt(fan_in); the bias uses the same bound. */
            float bound = (float)(1.0 / sqrt((double)fan_in));
            for (size_t k = 0; k < n; k++) p[k] = cldqn_rng_uniform(rng, -bound, bound);
        } else if (t->cols) { /* Keras Dense kernel: glorot_uniform */
            float limit = (float)sqrt(6.0 / ((double)fan_in + (double)fan_out));
            for (size_t k = 0; k < n; k++) p[k] = cldqn_rng_uniform(rng, -limit, limit);
        } else { /* Keras Dense bias: zeros */
            for (size_t k = 0; k < n; k++) p[k] = 0.0f;
        }
    }
}
