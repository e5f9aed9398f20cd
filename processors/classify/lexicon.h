/*
 * lexicon.h - private to processors/classify: the phrase matcher.
 *
 * Text and phrases go through the same normaliser: case folding (ASCII and
 * Latin-1 letters), apostrophes dropped ("didn't" -> "didnt"), every other
 * punctuation a word boundary, a light suffix stemmer ("charged", "charges",
 * "charging" -> "charg"). Words become ids through one hash table, and phrases
 * are paths in a trie over word ids, so matching costs O(words x longest
 * phrase) whatever the number of phrases, and allocates nothing.
 */
#ifndef CX_LEXICON_H
#define CX_LEXICON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cx.h"

/* Longest phrase, in words. */
#define CX_LEX_MAX_PHRASE_WORDS 8
/* Longest word kept (longer words never match). */
#define CX_LEX_MAX_WORD 48
/* Most tokens read from one text: the schema caps text at 16384 characters,
 * and a token takes at least one ("!!!" is three breaks). */
#define CX_LEX_MAX_TOKENS 16384
/* Token ids for the scan: a word not in any phrase, and a clause break. */
#define CX_LEX_UNKNOWN (-1)
#define CX_LEX_BREAK (-2)

/* Word flags (set on single words by the rule loader). */
#define CX_LEX_NEGATOR 0x1u
#define CX_LEX_INTENSIFIER 0x2u
#define CX_LEX_CLAUSE_BREAK 0x4u /* "but", "however": ends a negation's scope */

typedef struct cx_lexicon cx_lexicon;

cx_status cx__lex_new(cx_lexicon **out);
void cx__lex_free(cx_lexicon *lex);

/*
 * Adds a phrase (normalised here) and returns its trie node in *node, the
 * same node for phrases that normalise alike. CX_ERR_INVALID, with the reason
 * in *why (a static string; why may be NULL), if the phrase has no word,
 * sentence punctuation, a word longer than CX_LEX_MAX_WORD letters (which no
 * text could match) or more than CX_LEX_MAX_PHRASE_WORDS words.
 */
cx_status cx__lex_add_phrase(cx_lexicon *lex, const char *phrase, int32_t *node, const char **why);

/* Sets flags on a single word (normalised here). */
cx_status cx__lex_flag_word(cx_lexicon *lex, const char *word, unsigned flags);

/* Flags of word id (0 for unknown ids). */
unsigned cx__lex_word_flags(const cx_lexicon *lex, int32_t id);

/*
 * Turns text[len] into word ids (CX_LEX_UNKNOWN for words in no phrase,
 * CX_LEX_BREAK at sentence punctuation). Writes at most cap ids; returns how
 * many were written. Stops early, without error, when ids[] is full.
 */
size_t cx__lex_scan(const cx_lexicon *lex, const char *text, size_t len, int32_t *ids,
                    size_t cap);

/* Sentence punctuation, where the scan puts a CX_LEX_BREAK (the features'
 * pass, which gives the rules their words, uses it too). */
static inline int cx__lex_break_char(unsigned char c)
{
    return c == '.' || c == '!' || c == '?' || c == ';' || c == ':' || c == '\n';
}

/* A text's tokens as cx__lex_scan() gives them, with their word flags. */
typedef struct cx_lex_words {
    int32_t id[CX_LEX_MAX_TOKENS];
    unsigned char flags[CX_LEX_MAX_TOKENS];
    size_t n;
} cx_lex_words;

/* Scans text[len] into *w (cx__lex_scan() and the flags of each id). */
void cx__lex_words(const cx_lexicon *lex, const char *text, size_t len, cx_lex_words *w);

/* The id of the word w[n] (n > 0, normalised but not stemmed: at most
 * CX_LEX_MAX_WORD bytes as the scan reads them), as the scan gives it;
 * stems w in place. */
int32_t cx__lex_find(const cx_lexicon *lex, char *w, size_t n);

/* Distinct per lexicon made (tags the ids a thread keeps of its words). */
uint64_t cx__lex_generation(const cx_lexicon *lex);

/* Follows the trie edge node --word--> child; returns the child or -1. */
int32_t cx__lex_step(const cx_lexicon *lex, int32_t node, int32_t word);

/* Folds the Latin-1 letter U+00C0..U+00FF (second UTF-8 byte b after 0xC3) to
 * its ASCII letter, or 0 (shared by matching and the model's features). */
char cx__fold_latin1(unsigned char b);

/* Character classes as <ctype.h> gives them in the C locale (cxpulse never
 * sets another), inline. */
static inline int cx__ascii_alpha(unsigned char c)
{
    return (unsigned)((c | 0x20) - 'a') < 26u;
}

static inline int cx__ascii_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static inline int cx__ascii_alnum(unsigned char c)
{
    return cx__ascii_alpha(c) || cx__ascii_digit(c);
}

static inline int cx__ascii_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* a[n] == b[n]: for short words, without a library call (shared by the
 * word tables of matching, the lexicons and the features). */
static inline int cx__same_bytes(const char *a, const char *b, size_t n)
{
    if (n >= 8) { /* eight at a time, the last eight overlapping */
        uint64_t x, y;
        for (size_t i = 0; i + 8 <= n; i += 8) {
            memcpy(&x, a + i, 8);
            memcpy(&y, b + i, 8);
            if (x != y)
                return 0;
        }
        memcpy(&x, a + n - 8, 8);
        memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    if (n >= 4) { /* the first four and the last four */
        uint32_t x, y, u, v;
        memcpy(&x, a, 4);
        memcpy(&y, b, 4);
        memcpy(&u, a + n - 4, 4);
        memcpy(&v, b + n - 4, 4);
        return x == y && u == v;
    }
    return n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1]);
}

/* Little-endian load of n <= 8 bytes (one instruction on common machines;
 * shared by the word hashes here and the features' hashes). */
static inline uint64_t cx__load_le(const char *s, size_t n)
{
    uint64_t v = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* the same value in at most three loads */
    size_t at = 0;
    if (n >= 8) {
        memcpy(&v, s, 8);
        return v;
    }
    if (n & 4) {
        uint32_t x;
        memcpy(&x, s, 4);
        v = x;
        at = 4;
    }
    if (n & 2) {
        uint16_t x;
        memcpy(&x, s + at, 2);
        v |= (uint64_t)x << (8 * at);
        at += 2;
    }
    if (n & 1)
        v |= (uint64_t)(unsigned char)s[at] << (8 * at);
#else
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)(unsigned char)s[i] << (8 * i);
#endif
    return v;
}

/* A word's hash, eight bytes at a time, the same on every machine (shared by
 * the word tables of matching and the lexicons; each finishes it its way). */
static inline uint64_t cx__hash_word(const char *s, size_t n)
{
    uint64_t h = (uint64_t)n * 0x9E3779B97F4A7C15ULL;
    for (; n > 0;) {
        size_t k = n < 8 ? n : 8;
        h = (h ^ cx__load_le(s, k)) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 31;
        s += k;
        n -= k;
    }
    return h;
}

#endif /* CX_LEXICON_H */
