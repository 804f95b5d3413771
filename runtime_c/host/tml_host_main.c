/* Host test driver for a generated model (default prefix `model`): reads each input from a raw binary file,
 * invokes the model, writes each output to a raw binary file. Used by the sanitizer tests; also a minimal
 * example of the generated API. A streamed input (model_input_streamed) is read into a buffer of exactly its
 * size that the application owns, and handed over with model_set_input_source, so that a sanitizer sees any
 * read outside it.
 * tinyml compile runs it on seeded random inputs to check the generated C against the reference executor.
 * Build with -DTML_PREFIX=name for a model compiled with --prefix name (default: model).
 * usage: tml_host_main IN0.bin [IN1.bin ...] -- OUT0.bin [OUT1.bin ...]
 * Each input file may hold several inputs one after another: they run in order, one invoke each, and each
 * output file gets one output per invoke (a model with state, e.g. SVDF, carries it from one to the next). */
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

int main(int argc, char **argv) {
    int i, sep = -1, rc = 0;
    long step, steps = -1;
    void *owned[16] = {0};
    FILE *in[16] = {0}, *out[16] = {0};
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) sep = i;
    }
    if (sep < 0 || sep - 1 != TML_API(_num_inputs)() || argc - sep - 1 != TML_API(_num_outputs)()) {
        fprintf(stderr, "usage: %s IN0.bin ... -- OUT0.bin ... (%d inputs, %d outputs)\n", argv[0],
                TML_API(_num_inputs)(), TML_API(_num_outputs)());
        return 2;
    }
    if (TML_API(_num_inputs)() > 16 || TML_API(_num_outputs)() > 16) return 2;
    for (i = 0; i < TML_API(_num_inputs)(); i++) {
        long size, n = (long)TML_API(_input_bytes)(i);
        in[i] = fopen(argv[1 + i], "rb");
        if (!in[i] || fseek(in[i], 0, SEEK_END) != 0 || (size = ftell(in[i])) < 0 || fseek(in[i], 0, SEEK_SET) != 0 ||
            size == 0 || size % n != 0 || (steps >= 0 && size / n != steps)) {
            fprintf(stderr, "%s must hold one or more inputs of %ld bytes, as many as the other inputs\n",
                    argv[1 + i], n);
            rc = 1;
            goto done;
        }
        steps = size / n;
        if (TML_API(_input_streamed)(i)) {
            owned[i] = malloc(TML_API(_input_bytes)(i));
            if (!owned[i] || TML_API(_set_input_source)(i, owned[i]) != 0) {
                rc = 1;
                goto done;
            }
        }
    }
    for (i = 0; i < TML_API(_num_outputs)(); i++) {
        out[i] = fopen(argv[sep + 1 + i], "wb");
        if (!out[i]) {
            rc = 1;
            goto done;
        }
    }
    /* a file of several inputs runs them in order, one invoke each (a model with state carries it along) */
    for (step = 0; rc == 0 && step < steps; step++) {
        for (i = 0; rc == 0 && i < TML_API(_num_inputs)(); i++) {
            void *dst = owned[i] ? owned[i] : TML_API(_input)(i);
            if (fread(dst, 1, TML_API(_input_bytes)(i), in[i]) != TML_API(_input_bytes)(i)) rc = 1;
        }
        if (rc == 0 && TML_API(_invoke)() != 0) rc = 1;
        for (i = 0; rc == 0 && i < TML_API(_num_outputs)(); i++) {
            if (fwrite(TML_API(_output)(i), 1, TML_API(_output_bytes)(i), out[i]) != TML_API(_output_bytes)(i)) rc = 1;
        }
    }
done:
    for (i = 0; i < 16; i++) {
        free(owned[i]);
        if (in[i]) fclose(in[i]);
        if (out[i] && fclose(out[i]) != 0) rc = 1;
    }
    return rc;
}
