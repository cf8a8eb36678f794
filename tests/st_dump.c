/* st_dump - a test helper: lists a safetensors file's tensors or writes one
 * tensor's bytes to stdout, through libcldqn's reader (so a test can hash
 * each tensor with sha256sum, whatever the header holds).
 * Usage: st_dump FILE            one line per tensor: NAME DTYPE BYTES
 *        st_dump FILE NAME       the tensor's data bytes */
#include <stdio.h>
#include <string.h>

#include "cldqn/checkpoint.h"

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: st_dump FILE [NAME]\n");
        return 2;
    }
    cldqn_st_file *f;
    if (cldqn_st_read(argv[1], &f) != CLDQN_OK) {
        fprintf(stderr, "st_dump: %s\n", cldqn_last_error());
        return 1;
    }
    int rc = 0;
    for (int i = 0; i < cldqn_st_count(f); i++) {
        const char *name = cldqn_st_name(f, i);
        if (argc == 3 && strcmp(name, argv[2])) continue;
        const void *data;
        size_t n;
        if (cldqn_st_get(f, name, cldqn_st_dtype(f, i), 0, NULL, &data, &n) != CLDQN_OK) {
            fprintf(stderr, "st_dump: %s\n", cldqn_last_error());
            rc = 1;
            break;
        }
        if (argc == 2)
            printf("%s %zu\n", name, n);
        else if (fwrite(data, 1, n, stdout) != n)
            rc = 1;
        if (argc == 3) break;
    }
    cldqn_st_free(f);
    return rc;
}
