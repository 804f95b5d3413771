/* Host test driver for a generated model (default prefix `model`): reads each input from a raw binary file,
 * invokes the model, writes each output to a raw binary file. Used by the sanitizer tests; also a minimal
 * example of the generated API. A streamed input (model_input_streamed) is read into a buffer of exactly its
 * size that the application owns, and handed over with model_set_input_source, so that a sanitizer sees any
 * read outside it.
 * tinyml compile runs it on seeded random inputs to check the generated C against the reference executor.
 * Build with -DTML_PREFIX=name for a model compiled with --prefix name (default: model).
 * usage: tml_host_main IN0.bin [IN1.bin ...] -- OUT0.bin [OUT1.bin ...] */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TML_PREFIX
#define TML_PREFIX model
#endif
#define TML_CAT_(a, b) a##b
#define TML_CAT(a, b) TML_CAT_(a, b)
#define TML_API(name) TML_CAT(TML_PREFIX, name)

/* the model's API (PREFIX.h), declared through the prefix */
int TML_API(_invoke)(void);
void *TML_API(_input)(int index);
const void *TML_API(_output)(int index);
size_t TML_API(_input_bytes)(int index);
size_t TML_API(_output_bytes)(int index);
int TML_API(_num_inputs)(void);
int TML_API(_num_outputs)(void);
int TML_API(_set_input_source)(int index, const void *data);
int TML_API(_input_streamed)(int index);

static int read_file(const char *path, void *dst, size_t n) {
    FILE *f = fopen(path, "rb");
    size_t got;
    if (!f) return -1;
    got = fread(dst, 1, n, f);
    fclose(f);
    return got == n ? 0 : -1;
}

static int write_file(const char *path, const void *src, size_t n) {
    FILE *f = fopen(path, "wb");
    size_t put;
    if (!f) return -1;
    put = fwrite(src, 1, n, f);
    fclose(f);
    return put == n ? 0 : -1;
}

int main(int argc, char **argv) {
    int i, sep = -1, rc = 0;
    void *owned[16] = {0};
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) sep = i;
    }
    if (sep < 0 || sep - 1 != TML_API(_num_inputs)() || argc - sep - 1 != TML_API(_num_outputs)()) {
        fprintf(stderr, "usage: %s IN0.bin ... -- OUT0.bin ... (%d inputs, %d outputs)\n", argv[0],
                TML_API(_num_inputs)(), TML_API(_num_outputs)());
        return 2;
    }
    if (TML_API(_num_inputs)() > 16) return 2;
    for (i = 0; i < TML_API(_num_inputs)(); i++) {
        void *dst = TML_API(_input)(i);
        if (TML_API(_input_streamed)(i)) {
            dst = owned[i] = malloc(TML_API(_input_bytes)(i));
            if (!dst || TML_API(_set_input_source)(i, dst) != 0) return 1;
        }
        if (read_file(argv[1 + i], dst, TML_API(_input_bytes)(i)) != 0) {
            fprintf(stderr, "cannot read %lu bytes from %s\n", (unsigned long)TML_API(_input_bytes)(i), argv[1 + i]);
            return 1;
        }
    }
    if (TML_API(_invoke)() != 0) rc = 1;
    for (i = 0; rc == 0 && i < TML_API(_num_outputs)(); i++) {
        if (write_file(argv[sep + 1 + i], TML_API(_output)(i), TML_API(_output_bytes)(i)) != 0) rc = 1;
    }
    for (i = 0; i < 16; i++) free(owned[i]);
    return rc;
}
