/* sweep.h - comparing the settings of a population's agents (sweep.c). */
#ifndef CLDQN_SWEEP_H
#define CLDQN_SWEEP_H

#include "cldqn/config.h"

/* c with every sweepable setting of ref, so the rest can be compared; clip
 * only where both clip or both do not (one program serves all agents). */
cldqn_config cldqn_sweep_strip(const cldqn_config *c, const cldqn_config *ref);

/* The sweepable keys as one comma-separated line, for messages. */
const char *cldqn_sweep_keys_text(void);

#endif
