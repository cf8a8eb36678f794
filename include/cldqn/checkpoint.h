/* checkpoint.h - safetensors files: the network's weights and training state.
 *
 * Format (https://github.com/huggingface/safetensors): 8-byte little-endian
 * header length N, N bytes of JSON {"name": {"dtype", "shape", "data_offsets"},
 * "__metadata__": {string: string}}, then the tensor bytes back to back.
 * A weights checkpoint holds PyTorch state_dict names and shapes from
 * cldqn_layout (embedding.weight, fc1.weight, ..., out.bias, F32) and
 * metadata "format" = "cldqn", "version", "config" (JSON) and the shape keys
 * "n_states", "n_actions", "embed", "hidden", "layers".
 *
 * Files are written atomically: a temporary file in the same directory is
 * written, fsync'd and renamed over the target, then the directory is
 * fsync'd, so an existing file is either left alone or fully replaced.
 * Readers validate everything and fail with CLDQN_ERR_FORMAT. */
#ifndef CLDQN_CHECKPOINT_H
#define CLDQN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "cldqn/config.h"
#include "cldqn/net.h"
#include "cldqn/status.h"

#define CLDQN_ST_MAX_DIMS 4

/* One tensor to write. dtype: "F32", "F64", "U8", "I32", "I64" or "U64". */
typedef struct {
    const char *name;
    const char *dtype;
    int ndim;
    int64_t shape[CLDQN_ST_MAX_DIMS];
    const void *data; /* numel * dtype size bytes, little-endian */
} cldqn_st_entry;

/* Writes a safetensors file atomically. meta is NULL or a NULL-terminated
 * list of key, value, key, value, ... strings. */
cldqn_status cldqn_st_write(const char *path, const cldqn_st_entry *entries, int n,
                            const char *const *meta);

typedef struct cldqn_st_file cldqn_st_file;

/* Reads and validates a whole safetensors file. */
cldqn_status cldqn_st_read(const char *path, cldqn_st_file **out);
void cldqn_st_free(cldqn_st_file *f);
/* Number of tensors, and the name and dtype of tensor i (0 <= i < count) in
 * file order (NULL for another i). */
int cldqn_st_count(const cldqn_st_file *f);
const char *cldqn_st_name(const cldqn_st_file *f, int i);
const char *cldqn_st_dtype(const cldqn_st_file *f, int i);

/* Metadata value, or NULL. */
const char *cldqn_st_meta(const cldqn_st_file *f, const char *key);
/* Tensor data checked against dtype and shape (ndim dims); NULL shape checks
 * only the dtype. Fails with CLDQN_ERR_FORMAT naming the tensor. */
cldqn_status cldqn_st_get(const cldqn_st_file *f, const char *name, const char *dtype, int ndim,
                          const int64_t *shape, const void **data, size_t *nbytes);
/* FNV-1a 64 of the tensor data block (for companion-file checks). */
uint64_t cldqn_st_data_hash(const cldqn_st_file *f);

/* FNV-1a 64 over bytes, continuing from h (start with CLDQN_FNV_OFFSET). */
#define CLDQN_FNV_OFFSET 1469598103934665603ull
uint64_t cldqn_fnv1a(uint64_t h, const void *data, size_t n);

/* Saves params (lay->total floats) with cfg's JSON and extra metadata
 * (NULL-terminated key/value list, may be NULL). */
cldqn_status cldqn_checkpoint_save(const char *path, const cldqn_config *cfg,
                                   const cldqn_layout *lay, const float *params,
                                   const char *const *extra_meta);

/* Loads a weights checkpoint: cfg receives its stored configuration (on top
 * of the preset it names), lay its layout, *params a malloc'd copy of the
 * weights. Fails with CLDQN_ERR_IO if unreadable, CLDQN_ERR_FORMAT if corrupt
 * or if a tensor's shape disagrees with the stored configuration. */
cldqn_status cldqn_checkpoint_load(const char *path, cldqn_config *cfg, cldqn_layout *lay,
                                   float **params);

#endif
