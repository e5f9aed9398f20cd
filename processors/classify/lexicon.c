/*
 * lexicon.c - word normalisation, the word table and the phrase trie (see lexicon.h).
 */
#include "lexicon.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct word_slot {
    uint64_t hash; /* 0 = empty */
    uint32_t off;  /* into strings */
    uint32_t len;
    int32_t id;
} word_slot;

typedef struct edge_slot {
    uint64_t key; /* (node << 32 | word) + 1; 0 = empty */
    int32_t child;
} edge_slot;

struct cx_lexicon {
    word_slot *words;
    size_t words_cap, n_words;
    char *strings;
    size_t strings_len, strings_cap;
    unsigned *flags; /* per word id */
    int32_t *root;   /* per word id: the root's child along it, or -1 */
    edge_slot *edges;
    size_t edges_cap, n_edges;
    int32_t n_nodes;
    uint64_t gen;
    char why[160]; /* why cx__lex_add_phrase() refused a phrase, when it names a character */
};

/* ---- Normalisation ------------------------------------------------------ */

char cx__fold_latin1(unsigned char b)
{
    static const char map[64] = "aaaaaaaceeeeiiiidnooooo/ouuuuyts"
                                "aaaaaaaceeeeiiiidnooooo/ouuuuyty";
    if (b < 0x80 || b > 0xBF)
        return 0;
    char c = map[b - 0x80];
    return c == '/' ? 0 : c;
}

static int is_consonant(char c)
{
    return c >= 'a' && c <= 'z' && strchr("aeiouy", c) == NULL;
}

/* Light suffix stemmer: the same on phrases and text, so only consistency matters. */
static size_t stem(char *w, size_t n)
{
    if (n >= 5 && memcmp(w + n - 3, "ies", 3) == 0) {
        w[n - 3] = 'y';
        return n - 2;
    }
    if (n >= 4 && w[n - 1] == 's' && w[n - 2] != 's' && w[n - 2] != 'u' && w[n - 2] != 'i')
        n--;
    else if (n >= 5 && memcmp(w + n - 4, "sses", 4) == 0)
        n -= 2;
    if (n >= 6 && memcmp(w + n - 3, "ing", 3) == 0)
        n -= 3;
    else if (n >= 5 && memcmp(w + n - 2, "ed", 2) == 0)
        n -= 2;
    else if (n >= 5 && w[n - 1] == 'e')
        n--;
    /* "stopp" -> "stop", but keep "ll", "ss", "zz" ("bill", "miss") */
    if (n >= 4 && w[n - 1] == w[n - 2] && is_consonant(w[n - 1]) && strchr("lsz", w[n - 1]) == NULL)
        n--;
    return n;
}

/*
 * Reads the next token of text from *pos. Returns 1 with the normalised word
 * in word[] (*wlen bytes; 0 if it was too long to keep), 2 for a clause break,
 * 0 at the end.
 */
static inline __attribute__((always_inline)) int next_token(const char *text, size_t len,
                                                            size_t *pos, char *word, size_t *wlen)
{
    size_t i = *pos, n = 0;
    int in_word = 0, overflow = 0;
    while (i < len) {
        unsigned char c = (unsigned char)text[i];
        unsigned char lc = c | 0x20; /* ASCII letters folded */
        if ((unsigned)(lc - 'a') < 26u || (unsigned)(c - '0') < 10u) {
            /* the common case first: a letter or digit */
            in_word = 1;
            if (n < CX_LEX_MAX_WORD)
                word[n++] = (char)(c <= '9' ? c : lc);
            else
                overflow = 1;
            i++;
            continue;
        }
        char out = 0;
        size_t adv = 1;
        if (c == '\'' && in_word)
            out = 0; /* "didn't" -> "didnt" */
        else if (c == 0xE2 && i + 2 < len && (unsigned char)text[i + 1] == 0x80 &&
                 (unsigned char)text[i + 2] == 0x99 && in_word)
            adv = 3; /* U+2019 right single quotation mark */
        else if (c == 0xC3 && i + 1 < len && (out = cx__fold_latin1((unsigned char)text[i + 1])))
            adv = 2;
        else {
            if (in_word)
                break;
            i++;
            if (cx__lex_break_char(c)) {
                *pos = i;
                return 2;
            }
            continue;
        }
        in_word = 1;
        if (out != 0) {
            if (n < CX_LEX_MAX_WORD)
                word[n++] = out;
            else
                overflow = 1;
        }
        i += adv;
    }
    *pos = i;
    if (!in_word)
        return 0;
    *wlen = overflow ? 0 : stem(word, n);
    return 1;
}

/* ---- Word table --------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n)
{
    return cx__hash_word(s, n) | 1; /* never 0: 0 marks an empty slot */
}

static int32_t word_find(const cx_lexicon *lex, const char *w, size_t n)
{
    if (lex->words_cap == 0)
        return CX_LEX_UNKNOWN;
    uint64_t h = hash_bytes(w, n);
    for (size_t i = h & (lex->words_cap - 1);; i = (i + 1) & (lex->words_cap - 1)) {
        const word_slot *s = &lex->words[i];
        if (s->hash == 0)
            return CX_LEX_UNKNOWN;
        if (s->hash == h && s->len == n && cx__same_bytes(lex->strings + s->off, w, n))
            return s->id;
    }
}

static cx_status grow_words(cx_lexicon *lex)
{
    size_t cap = lex->words_cap ? lex->words_cap * 2 : 1024;
    word_slot *t = calloc(cap, sizeof *t);
    unsigned *flags = realloc(lex->flags, cap / 2 * sizeof *flags);
    if (flags != NULL)
        lex->flags = flags;
    int32_t *root = realloc(lex->root, cap / 2 * sizeof *root);
    if (root != NULL)
        lex->root = root;
    if (t == NULL || flags == NULL || root == NULL) {
        free(t);
        return CX_ERR_NOMEM;
    }
    memset(flags + lex->n_words, 0, (cap / 2 - lex->n_words) * sizeof *flags);
    for (size_t i = lex->n_words; i < cap / 2; i++)
        root[i] = -1;
    for (size_t i = 0; i < lex->words_cap; i++) {
        word_slot s = lex->words[i];
        if (s.hash == 0)
            continue;
        size_t j = s.hash & (cap - 1);
        while (t[j].hash != 0)
            j = (j + 1) & (cap - 1);
        t[j] = s;
    }
    free(lex->words);
    lex->words = t;
    lex->words_cap = cap;
    return CX_OK;
}

static cx_status word_intern(cx_lexicon *lex, const char *w, size_t n, int32_t *id)
{
    *id = word_find(lex, w, n);
    if (*id >= 0)
        return CX_OK;
    if ((lex->n_words + 1) * 2 > lex->words_cap && grow_words(lex) != CX_OK)
        return CX_ERR_NOMEM;
    if (lex->strings_len + n + 1 > lex->strings_cap) {
        size_t cap = lex->strings_cap ? lex->strings_cap * 2 : 16384;
        while (cap < lex->strings_len + n + 1)
            cap *= 2;
        char *s = realloc(lex->strings, cap);
        if (s == NULL)
            return CX_ERR_NOMEM;
        lex->strings = s;
        lex->strings_cap = cap;
    }
    uint64_t h = hash_bytes(w, n);
    size_t i = h & (lex->words_cap - 1);
    while (lex->words[i].hash != 0)
        i = (i + 1) & (lex->words_cap - 1);
    lex->words[i] = (word_slot){h, (uint32_t)lex->strings_len, (uint32_t)n, (int32_t)lex->n_words};
    memcpy(lex->strings + lex->strings_len, w, n);
    lex->strings[lex->strings_len + n] = '\0';
    lex->strings_len += n + 1;
    *id = (int32_t)lex->n_words++;
    return CX_OK;
}

/* ---- Trie ------------------------------------------------------------------ */

static uint64_t edge_key(int32_t node, int32_t word)
{
    return (((uint64_t)(uint32_t)node << 32) | (uint32_t)word) + 1;
}

/* The key's slot: every bit of the key mixed in (a product's low bits alone
 * would depend on the word only, and all edges of a common word would share a
 * run of slots). */
static size_t edge_slot_of(uint64_t key, size_t cap)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

int32_t cx__lex_step(const cx_lexicon *lex, int32_t node, int32_t word)
{
    if (word < 0 || lex->edges_cap == 0)
        return -1;
    if (node == 0)
        return (size_t)word < lex->n_words ? lex->root[word] : -1;
    uint64_t key = edge_key(node, word);
    for (size_t i = edge_slot_of(key, lex->edges_cap);; i = (i + 1) & (lex->edges_cap - 1)) {
        if (lex->edges[i].key == key)
            return lex->edges[i].child;
        if (lex->edges[i].key == 0)
            return -1;
    }
}

static cx_status edge_add(cx_lexicon *lex, int32_t node, int32_t word, int32_t *child)
{
    if ((lex->n_edges + 1) * 2 > lex->edges_cap) {
        size_t cap = lex->edges_cap ? lex->edges_cap * 2 : 4096;
        edge_slot *t = calloc(cap, sizeof *t);
        if (t == NULL)
            return CX_ERR_NOMEM;
        for (size_t i = 0; i < lex->edges_cap; i++) {
            if (lex->edges[i].key == 0)
                continue;
            size_t j = edge_slot_of(lex->edges[i].key, cap);
            while (t[j].key != 0)
                j = (j + 1) & (cap - 1);
            t[j] = lex->edges[i];
        }
        free(lex->edges);
        lex->edges = t;
        lex->edges_cap = cap;
    }
    uint64_t key = edge_key(node, word);
    size_t i = edge_slot_of(key, lex->edges_cap);
    while (lex->edges[i].key != 0)
        i = (i + 1) & (lex->edges_cap - 1);
    lex->edges[i] = (edge_slot){key, lex->n_nodes};
    if (node == 0)
        lex->root[word] = lex->n_nodes;
    *child = lex->n_nodes++;
    lex->n_edges++;
    return CX_OK;
}

/* ---- Public (module-private) API ----------------------------------------- */

cx_status cx__lex_new(cx_lexicon **out)
{
    cx_lexicon *lex = calloc(1, sizeof *lex);
    if (lex == NULL)
        return CX_ERR_NOMEM;
    lex->n_nodes = 1; /* the root */
    static atomic_uint_fast64_t generation;
    lex->gen = (uint64_t)atomic_fetch_add(&generation, 1) + 1;
    *out = lex;
    return CX_OK;
}

void cx__lex_free(cx_lexicon *lex)
{
    if (lex == NULL)
        return;
    free(lex->words);
    free(lex->strings);
    free(lex->flags);
    free(lex->root);
    free(lex->edges);
    free(lex);
}

/* Whether code point c (U+0100 and over) can be part of a word in a script
 * other than Latin-1's (a letter, a combining mark, a digit): everything but
 * punctuation, symbols and emoji, which separate words as ASCII punctuation
 * does. */
static int foreign_letter(uint32_t c)
{
    static const uint32_t not_letters[][2] = {
        {0x2000, 0x2BFF}, /* punctuation, currency, arrows, maths, shapes, dingbats */
        {0x2E00, 0x2E7F}, /* supplemental punctuation */
        {0x3000, 0x3004},   {0x3008, 0x3020}, /* CJK punctuation */
        {0xFE00, 0xFE1F},                     /* variation selectors, vertical forms */
        {0xFE30, 0xFE6F},                     /* compatibility and small forms */
        {0xFF01, 0xFF0F},   {0xFF1A, 0xFF20}, {0xFF3B, 0xFF40},
        {0xFF5B, 0xFF65},   {0xFFF0, 0xFFFF}, /* specials */
        {0x1F000, 0x1FAFF},                   /* emoji and pictographs */
        {0xE0000, 0xE007F},                   /* tags */
    };
    for (size_t i = 0; i < sizeof not_letters / sizeof not_letters[0]; i++)
        if (c >= not_letters[i][0] && c <= not_letters[i][1])
            return 0;
    return 1;
}

/* The first character of phrase that is a letter (or mark) of a script
 * outside Latin-1: in the text it separates words, so a term holding one
 * would match other words; its code point and bytes, or 0. */
static uint32_t first_foreign_letter(const char *phrase, const char **at, size_t *bytes)
{
    const unsigned char *p = (const unsigned char *)phrase, *end = p + strlen(phrase);
    while (p < end) {
        size_t n;
        uint32_t c = cx_utf8_next(p, end, &n);
        if (c >= 0x100 && foreign_letter(c)) {
            *at = (const char *)p;
            *bytes = n;
            return c;
        }
        p += n;
    }
    return 0;
}

cx_status cx__lex_add_phrase(cx_lexicon *lex, const char *phrase, int32_t *node, const char **why)
{
    const char *at;
    size_t bytes;
    uint32_t foreign = first_foreign_letter(phrase, &at, &bytes);
    if (foreign != 0) {
        if (why != NULL) {
            snprintf(lex->why, sizeof lex->why,
                     "has \"%.*s\" (U+%04X), outside Latin-1: letters of other scripts are not"
                     " read (they separate words)",
                     (int)bytes, at, (unsigned)foreign);
            *why = lex->why;
        }
        return CX_ERR_INVALID;
    }
    size_t pos = 0, len = strlen(phrase), wlen, n_words = 0;
    char word[CX_LEX_MAX_WORD];
    int32_t cur = 0;
    int kind;
    const char *dummy;
    why = why ? why : &dummy;
    while ((kind = next_token(phrase, len, &pos, word, &wlen)) != 0) {
        if (kind == 2) {
            *why = "has sentence punctuation (. ! ? ; : or a line break), which ends a phrase";
            return CX_ERR_INVALID;
        }
        if (wlen == 0) {
            *why = "has a word longer than 48 letters, which the text is not read for";
            return CX_ERR_INVALID;
        }
        if (++n_words > CX_LEX_MAX_PHRASE_WORDS) {
            *why = "is longer than 8 words";
            return CX_ERR_INVALID;
        }
        int32_t id, child;
        if (word_intern(lex, word, wlen, &id) != CX_OK)
            return CX_ERR_NOMEM;
        child = cx__lex_step(lex, cur, id);
        if (child < 0 && edge_add(lex, cur, id, &child) != CX_OK)
            return CX_ERR_NOMEM;
        cur = child;
    }
    if (n_words == 0) {
        *why =
            strspn(phrase, " \t\r\n") == len
                ? "is empty"
                : "has no word (letters of Latin-1 scripts and digits; other scripts are not read)";
        return CX_ERR_INVALID;
    }
    *node = cur;
    return CX_OK;
}

cx_status cx__lex_flag_word(cx_lexicon *lex, const char *word, unsigned flags)
{
    size_t pos = 0, wlen;
    char w[CX_LEX_MAX_WORD];
    int32_t id;
    if (next_token(word, strlen(word), &pos, w, &wlen) != 1 || wlen == 0)
        return CX_ERR_INVALID;
    size_t rest = pos;
    char extra[CX_LEX_MAX_WORD];
    size_t elen;
    if (next_token(word, strlen(word), &rest, extra, &elen) != 0)
        return CX_ERR_INVALID; /* one word only */
    if (word_intern(lex, w, wlen, &id) != CX_OK)
        return CX_ERR_NOMEM;
    lex->flags[id] |= flags;
    return CX_OK;
}

unsigned cx__lex_word_flags(const cx_lexicon *lex, int32_t id)
{
    return id >= 0 && (size_t)id < lex->n_words ? lex->flags[id] : 0;
}

size_t cx__lex_scan(const cx_lexicon *lex, const char *text, size_t len, int32_t *ids,
                    size_t cap)
{
    size_t pos = 0, n = 0, wlen;
    char word[CX_LEX_MAX_WORD];
    int kind;
    while (n < cap && (kind = next_token(text, len, &pos, word, &wlen)) != 0) {
        if (kind == 2)
            ids[n++] = CX_LEX_BREAK;
        else
            ids[n++] = wlen == 0 ? CX_LEX_UNKNOWN : word_find(lex, word, wlen);
    }
    return n;
}

void cx__lex_words(const cx_lexicon *lex, const char *text, size_t len, cx_lex_words *w)
{
    w->n = cx__lex_scan(lex, text, len, w->id, CX_LEX_MAX_TOKENS);
    for (size_t i = 0; i < w->n; i++)
        w->flags[i] = (unsigned char)cx__lex_word_flags(lex, w->id[i]);
}

int32_t cx__lex_find(const cx_lexicon *lex, char *w, size_t n)
{
    return word_find(lex, w, stem(w, n));
}

uint64_t cx__lex_generation(const cx_lexicon *lex)
{
    return lex->gen;
}
