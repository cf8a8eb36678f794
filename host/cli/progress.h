/* progress.h - what `cldqn train` shows while it runs, and its metrics file.
 *
 * A one-line bar redrawn at most 10 times a second on a terminal, plain
 * periodic lines otherwise, nothing but the final summary with quiet; the
 * seed's "Episode: N" renders; metrics as JSON lines (one per episode and
 * one per evaluation). */
#ifndef CLDQN_PROGRESS_H
#define CLDQN_PROGRESS_H

#include <stdio.h>

#include "cldqn/config.h"
#include "cldqn/net.h"
#include "cldqn/status.h"
#include "cldqn/trainer.h"

typedef struct cldqn_progress cldqn_progress;

/* Opens cfg->metrics (appending when resuming) if set. Progress goes to err,
 * renders to out. */
cldqn_status cldqn_progress_open(const cldqn_config *cfg, int resuming, FILE *out, FILE *err,
                                 cldqn_progress **p);
/* Fills the display and metrics callbacks of h (ctx, on_tick, on_episode,
 * on_eval, on_save); h->stop is left alone. */
void cldqn_progress_hooks(cldqn_progress *p, cldqn_train_hooks *h);
/* Clears the bar so later output starts on a fresh line. */
void cldqn_progress_end(cldqn_progress *p);
/* Closes the metrics file; fails with CLDQN_ERR_IO if a write was lost. */
cldqn_status cldqn_progress_close(cldqn_progress *p);

/* Keras' model.summary() for the network as the seed article builds it. */
void cldqn_print_model_summary(const cldqn_layout *lay, FILE *f);

#endif
