/*
 * fuzz_text_read.c - libFuzzer entry point for what the classifier reads of
 * a text and of a transcript's customer turns (processors/classify/text.h):
 * any bytes give results no longer than the text, read within its bounds,
 * and well-formed UTF-8 stays well-formed (what the tokenizer and the
 * stored evidence rely on).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cx.h"
#include "text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out =
        malloc(size > 0 ? size : 1); /* the room promised, no more: ASan sees a byte past it */
    if (out == NULL)
        return 0;
    size_t n = cx__text_read((const char *)data, size, out);
    if (n > size)
        abort();
    int utf8 = cx_utf8_valid((const char *)data, size);
    if (utf8 && !cx_utf8_valid(out, n))
        abort();
    char *turns = malloc(n > 0 ? n : 1); /* a transcript's customer turns */
    if (turns != NULL) {
        size_t m = cx__text_customer(out, n, turns);
        if (m != CX_TEXT_NOT_A_TRANSCRIPT && (m > n || (utf8 && !cx_utf8_valid(turns, m))))
            abort();
        free(turns);
    }
    free(out);
    return 0;
}
