/*
 * features.c - the feature extractor shared by classification and training
 * (see model.h): word unigrams (marked inside a negation's scope) and
 * bigrams, character 3-5-grams inside words, emoji, the balance of a
 * pros-and-cons text, the rule engine's hits, lexicon sums and complaint
 * cues, and the event's channel, touchpoint, attribute keys and rating, each
 * hashed into one of 2^CX_MODEL_BITS buckets.
 */
#include "lexicon.h"
#include "model.h"
#include "text.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_WORD 32
/* Words after a negator that are marked as negated (within a clause). */
#define NEG_SCOPE 3

/* Hashes s[n] eight bytes at a time, continuing from h: the same on every machine. */
static inline uint64_t hash_more(uint64_t h, const char *s, size_t n)
{
    h ^= (uint64_t)n * 0x9E3779B97F4A7C15ULL;
    for (; n >= 8; s += 8, n -= 8) {
        h = (h ^ cx__load_le(s, 8)) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 31;
    }
    if (n > 0) {
        h = (h ^ cx__load_le(s, n)) * 0x94d049bb133111ebULL;
        h ^= h >> 29;
    }
    return h;
}

static inline uint32_t bucket_of(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (uint32_t)(h >> (64 - CX_MODEL_BITS));
}

/* Copies n bytes in a few word-sized moves (names are short; the compiler's
 * inline copy of a variable length is slow for them). */
static inline void copy_small(char *d, const char *s, size_t n)
{
    if (n >= 8) {
        for (size_t i = 0; i + 8 <= n; i += 8)
            memcpy(d + i, s + i, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else if (n > 0) {
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
}

/* A word-group feature (a word, a word pair, an emoji) counts once per text:
 * a list of 50 order numbers, all "00" to the features, must not outweigh
 * the sentence around it. The features seen in the text being read, per
 * thread (cx__scratch()); an entry of another text is stale by its stamp. */
#define SEEN_SLOTS 1024
#define SEEN_PROBES 8

typedef struct seen_slot {
    uint64_t hash;
    uint32_t stamp;
} seen_slot;

typedef struct seen_set {
    seen_slot slot[SEEN_SLOTS];
    uint32_t stamp;
} seen_set;

/* Starts a new text: no feature has been seen. */
static void seen_reset(seen_set *seen)
{
    if (++seen->stamp == 0) { /* wrapped: no entry may look current */
        memset(seen->slot, 0, sizeof seen->slot);
        seen->stamp = 1;
    }
}

/* True when the feature whose hash is h was seen before in this text;
 * records it otherwise (in a full neighbourhood it counts again). */
static int seen_before(seen_set *seen, uint64_t h)
{
    for (unsigned k = 0; k < SEEN_PROBES; k++) {
        seen_slot *s = &seen->slot[((h >> 20) + k) & (SEEN_SLOTS - 1)];
        if (s->stamp != seen->stamp) {
            *s = (seen_slot){h, seen->stamp};
            return 0;
        }
        if (s->hash == h)
            return 1;
    }
    return 0;
}

typedef struct emitter {
    cx_feature_fn fn;
    cx_chars_fn chars;
    void *ctx;
    int *counts;
    seen_set *seen; /* the thread's */
} emitter;

/* Emits the feature "<prefix><name>"; the name is what evidence shows.
 * Inlined, so the prefix's hash is folded at each call site. */
static inline __attribute__((always_inline)) void emit(const emitter *e, cx_feature_group g,
                                                       float value, const char *prefix,
                                                       const char *name, size_t n, int named)
{
    /* prefixes are "" or two characters ("w:", "b:", "n:", "e:") */
    uint64_t h = CX_HASH_SEED;
    if (prefix[0] != '\0')
        h = hash_more(h, prefix, 2);
    h = hash_more(h, name, n);
    if (g == CX_FG_WORD && seen_before(e->seen, h))
        return;
    e->fn(e->ctx, bucket_of(h), g, value, named ? name : NULL, n);
    e->counts[g]++;
}

/* A readable feature "<kind>:<name>" (its whole string is the evidence). */
static inline __attribute__((always_inline)) void emit_s(const emitter *e, float value,
                                                         const char *kind, const char *name)
{
    char buf[160];
    size_t k = strlen(kind), n = strlen(name);
    if (k + n > sizeof buf) /* the evidence stays UTF-8 (PostgreSQL takes nothing else) */
        n = cx_utf8_cut(name, sizeof buf - k);
    if (k == 0) { /* the name as it is: no copy */
        emit(e, CX_FG_DENSE, value, "", name, n, 1);
        return;
    }
    copy_small(buf, kind, k);
    copy_small(buf + k, name, n);
    emit(e, CX_FG_DENSE, value, "", buf, k + n, 1);
}

/* A readable feature whose name is one of a fixed set of literals: its bucket
 * and length are found once per name, into *memo (0 = not yet). */
static void emit_fixed(const emitter *e, float value, const char *name, atomic_uint_fast32_t *memo)
{
    uint32_t m = (uint32_t)atomic_load_explicit(memo, memory_order_relaxed);
    if (m == 0) {
        size_t n = strlen(name); /* short: no cut as in emit_s() */
        m = (bucket_of(hash_more(CX_HASH_SEED, name, n)) | (uint32_t)n << CX_MODEL_BITS) + 1;
        atomic_store_explicit(memo, m, memory_order_relaxed);
    }
    m--;
    e->fn(e->ctx, m & (CX_MODEL_BUCKETS - 1), CX_FG_DENSE, value, name, m >> CX_MODEL_BITS);
    e->counts[CX_FG_DENSE]++;
}

/* A readable feature whose name is a string literal: its bucket is hashed
 * once per call site. */
#define EMIT_CONST(e, value, literal)                                                              \
    do {                                                                                           \
        static atomic_uint_fast32_t memo_;                                                         \
        emit_fixed((e), (value), "" literal, &memo_);                                              \
    } while (0)

int cx__char_ngrams(const char *w, size_t n, cx_feature_fn fn, void *ctx)
{
    char buf[MAX_WORD + 2 + 8]; /* + 8: copy_small's bound is not seen by the compiler */
    int count = 0;
    buf[0] = '<';
    copy_small(buf + 1, w, n);
    buf[n + 1] = '>';
    size_t len = n + 2;
    for (size_t s = 0; s + 3 <= len; s++) {
        uint64_t h = CX_HASH_SEED ^ 0x63;
        for (size_t j = s; j < len && j < s + 5; j++) {
            h = (h ^ (unsigned char)buf[j]) * CX_HASH_PRIME;
            if (j - s + 1 >= 3) {
                fn(ctx, bucket_of(h), CX_FG_CHAR, 1.0f, NULL, 0);
                count++;
            }
        }
    }
    return count;
}

static void emit_chars(const emitter *e, const char *w, size_t n, uint64_t key)
{
    e->counts[CX_FG_CHAR] +=
        e->chars ? e->chars(e->ctx, w, n, key) : cx__char_ngrams(w, n, e->fn, e->ctx);
}

/* Per thread (cx__scratch()): what recent words give, so a frequent word costs one hash and
 * a probe: for the features, their unigram's hash, their FNV-1a key for the
 * character n-grams and whether they are negators (nothing but the word: the
 * negators are a built-in list); for the rules, their lexicon id and flags
 * (tagged with the lexicon's generation). Keyed by the word as the rules read
 * it, digits kept; the features' word is the same with digits as '0'. */
#define WORD_CACHE_BITS 12
#define WORD_CACHE (1 << WORD_CACHE_BITS)

typedef struct word_memo {
    uint64_t hash;    /* of "w:<feature word>" (see emit); 0 = empty */
    uint64_t key;     /* FNV-1a of the feature word, | 1 */
    uint64_t lex_gen; /* lexicon that id and flags are of; 0 = none */
    int32_t id;
    uint8_t flags, n, negator;
    uint8_t unprefix; /* cx__valence_negating_prefix() of the feature word */
    char w[MAX_WORD]; /* the word as the rules read it */
} word_memo;

/* The thread's working memory for the features. */
typedef struct scratch {
    seen_set seen;
    word_memo memo[WORD_CACHE];
    cx_lex_words words; /* the rules' words when the caller keeps none (~80 KB) */
} scratch;

/* The feature part of a memo for the feature word fw[n]. */
static void feature_info(const cx_valence *val, const char *fw, size_t n, word_memo *m)
{
    uint64_t key = cx_hash_bytes(CX_HASH_SEED, fw, n);
    m->hash = hash_more(hash_more(CX_HASH_SEED, "w:", 2), fw, n); /* as emit() */
    m->key = key | 1;
    m->negator = (uint8_t)cx__valence_negator(val, fw, n);
    m->unprefix = (uint8_t)cx__valence_negating_prefix(val, fw, n);
}

/* What the word gives: lw[n] as the rules read it, fw[n] as the features do
 * (n <= MAX_WORD); its id and flags are set when lex is given (gen: its
 * cx__lex_generation()). */
static const word_memo *word_info(word_memo *cache, const cx_valence *val, const cx_lexicon *lex,
                                  uint64_t gen, const char *lw, const char *fw, size_t n)
{
    word_memo *m = &cache[cx__hash_word(lw, n) >> (64 - WORD_CACHE_BITS)];
    if (m->hash == 0 || m->n != n || !cx__same_bytes(m->w, lw, n)) {
        feature_info(val, fw, n, m);
        m->n = (uint8_t)n;
        memcpy(m->w, lw, n);
        m->lex_gen = 0;
    }
    if (lex != NULL && m->lex_gen != gen) {
        char w[MAX_WORD];
        memcpy(w, lw, n);
        m->id = cx__lex_find(lex, w, n); /* stems w */
        m->flags = (uint8_t)cx__lex_word_flags(lex, m->id);
        m->lex_gen = gen;
    }
    return m;
}

/* Emits the negated form of word w[n] (n <= MAX_WORD), "not:<w>". */
static inline void emit_negated(const emitter *e, const char *w, size_t n)
{
    char nw[MAX_WORD + 5 + 8];
    memcpy(nw, "not:", 4);
    copy_small(nw + 4, w, n);
    emit(e, CX_FG_WORD, 1.0f, "n:", nw, n + 4, 1);
}

/* Appends a token to the rules' words (they stop when full, as the scan does). */
static void add_token(cx_lex_words *words, int32_t id, unsigned flags)
{
    if (words->n < CX_LEX_MAX_TOKENS) {
        words->id[words->n] = id;
        words->flags[words->n++] = (unsigned char)flags;
    }
}

/* True when the scan of the rules passes over byte b outside a word without
 * a token (a word character, sentence punctuation or a Latin-1 letter's
 * first byte are not such bytes). */
static int lex_blank(unsigned char b)
{
    if (b >= 0x80)
        return b != 0xC3;
    return !cx__ascii_alnum(b) && !cx__lex_break_char(b);
}

/* Word features of the text. With lex, also the text's tokens as the rules
 * read them (cx__lex_words() with lex) into *words, in the same pass: words
 * end at the same bytes for both (letters and digits, Latin-1 letters folded,
 * apostrophes inside words dropped); the rules keep digits and words up to
 * CX_LEX_MAX_WORD bytes, stem them, and also read what the features skip (a
 * link's address). Returns 0 when *words could not be had this way (bytes the
 * features jump over that the rules would read), 1 otherwise. */
static int text_features(const emitter *e, word_memo *memo, const cx_valence *val, const char *text,
                         size_t len, const cx_lexicon *lex, cx_lex_words *words)
{
    char word[MAX_WORD + 1], prev[MAX_WORD + 1 + 8], buf[2 * MAX_WORD + 8];
    char lw[CX_LEX_MAX_WORD]; /* the word as the rules read it */
    size_t wn = 0, pn = 0, ln = 0;
    int in_word = 0, skip_word = 0, neg_left = 0, handles = 0, urls = 0, long_word = 0;
    int lex_ok = lex != NULL;
    uint64_t gen = lex != NULL ? cx__lex_generation(lex) : 0;
    if (lex_ok)
        words->n = 0;
    seen_reset(e->seen);
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = i < len ? (unsigned char)text[i] : ' ';
        char out = 0;
        size_t adv = 0;
        if (cx__ascii_alnum(c))
            out = (char)(c | 0x20); /* digits stay digits */
        else if (c == 0xC3 && i + 1 < len && (out = cx__fold_latin1((unsigned char)text[i + 1])))
            adv = 1;
        else if ((c == '\'' || (c == 0xE2 && i + 2 < len && (unsigned char)text[i + 1] == 0x80 &&
                                (unsigned char)text[i + 2] == 0x99)) &&
                 in_word) {
            i += c == '\'' ? 0 : 2; /* apostrophes inside words are dropped */
            continue;
        }
        if (out != 0) {
            if (!in_word) {
                in_word = 1;
                wn = ln = 0;
                long_word = 0;
                skip_word = i > 0 && (text[i - 1] == '@' || text[i - 1] == '/');
                if (i + 4 < len && memcmp(text + i, "http", 4) == 0)
                    skip_word = 2;
            }
            if (wn < MAX_WORD)
                word[wn++] = cx__ascii_digit((unsigned char)out) ? '0' : out;
            if (ln < CX_LEX_MAX_WORD)
                lw[ln++] = out;
            else
                long_word = 1; /* too long for the rules: in no phrase */
            i += adv;
            continue;
        }
        if (in_word) {
            in_word = 0;
            /* ln == wn for the words the cache keeps */
            const word_memo *wm = ln <= MAX_WORD && (lex_ok || !skip_word)
                                      ? word_info(memo, val, lex_ok ? lex : NULL, gen, lw, word, ln)
                                      : NULL;
            if (lex_ok) {
                if (wm != NULL)
                    add_token(words, wm->id, wm->flags);
                else if (long_word)
                    add_token(words, CX_LEX_UNKNOWN, 0);
                else {
                    int32_t id = cx__lex_find(lex, lw, ln); /* stems lw */
                    add_token(words, id, cx__lex_word_flags(lex, id));
                }
            }
            if (skip_word) {
                handles += skip_word == 1;
                urls += skip_word == 2;
                if (skip_word == 2) { /* skip to the end of the address */
                    size_t from = i;
                    while (i < len && !cx__ascii_space((unsigned char)text[i]))
                        i++;
                    if (lex_ok) { /* which the rules read */
                        size_t n0 = words->n;
                        words->n += cx__lex_scan(lex, text + from, i - from, words->id + n0,
                                                 CX_LEX_MAX_TOKENS - n0);
                        for (size_t k = n0; k < words->n; k++)
                            words->flags[k] = (unsigned char)cx__lex_word_flags(lex, words->id[k]);
                    }
                    /* the address ends at a space (a line break is a break) or the end */
                    c = i < len ? (unsigned char)text[i] : ' ';
                }
                pn = 0;
            } else {
                word_memo own;
                if (wm == NULL) { /* a word longer than the cache keeps */
                    feature_info(val, word, wn, &own);
                    wm = &own;
                }
                /* unigram, negation-marked within the scope; a word seen
                 * before adds only its pair with the word before it */
                int again = seen_before(e->seen, wm->hash);
                if (again) {
                    if (neg_left > 0)
                        neg_left--;
                } else if (neg_left > 0) {
                    emit_negated(e, word, wn);
                    neg_left--;
                } else {
                    e->fn(e->ctx, bucket_of(wm->hash), CX_FG_WORD, 1.0f, word, wn);
                    e->counts[CX_FG_WORD]++;
                    if (wm->unprefix) /* "unhelpful" reads as "not helpful" too */
                        emit_negated(e, word + wm->unprefix, wn - wm->unprefix);
                }
                if (pn > 0) {
                    copy_small(buf, prev, pn);
                    buf[pn] = ' ';
                    copy_small(buf + pn + 1, word, wn);
                    emit(e, CX_FG_WORD, 1.0f, "b:", buf, pn + 1 + wn, 1);
                }
                if (!again)
                    emit_chars(e, word, wn, wm->key);
                if (wm->negator)
                    neg_left = NEG_SCOPE;
                copy_small(prev, word, wn);
                pn = wn;
            }
        }
        if (i >= len)
            break;
        if (cx__lex_break_char(c) || c == ',') {
            neg_left = 0;
            if (c != ',') {
                pn = 0;
                if (lex_ok)
                    add_token(words, CX_LEX_BREAK, 0);
            }
        } else if (c >= 0xE0) {
            /* emoji and other symbols: one feature per code point */
            size_t k = c >= 0xF0 ? 4 : 3;
            if (i + k <= len && !(k == 3 && (unsigned char)text[i + 1] == 0xB8 && c == 0xEF) &&
                !(k == 3 && c == 0xE2 && (unsigned char)text[i + 1] == 0x80))
                emit(e, CX_FG_WORD, 1.0f, "e:", text + i, k, 1);
            for (size_t j = i + 1; lex_ok && j < i + k && j < len; j++)
                lex_ok = lex_blank((unsigned char)text[j]); /* else the rules read them */
            i += k - 1;
        }
    }
    if (handles)
        EMIT_CONST(e, 1.0f, "text:handle");
    if (urls)
        EMIT_CONST(e, 1.0f, "text:link");
    return lex_ok;
}

static float capped(int n, int cap)
{
    return (float)(n > cap ? cap : n) / (float)cap;
}

static void rating_features(const emitter *e, const cx_event *ev)
{
    /* "rating:<scale> <band>": the scale as cx_rating_scale_name() names it
     * ("none" without a rating), the band by cx__rating_sentiment() */
    static const char *const names[CX_RATING_STARS + 1][CX_SENT_COUNT + 1] = {
        {"rating:none low", "rating:none mid", "rating:none high", "rating:none none"},
        {"rating:csat low", "rating:csat mid", "rating:csat high", "rating:csat none"},
        {"rating:nps low", "rating:nps mid", "rating:nps high", "rating:nps none"},
        {"rating:ces low", "rating:ces mid", "rating:ces high", "rating:ces none"},
        {"rating:stars low", "rating:stars mid", "rating:stars high", "rating:stars none"},
    };
    static atomic_uint_fast32_t memo[CX_RATING_STARS + 1][CX_SENT_COUNT + 1];
    unsigned scale = (unsigned)ev->rating_scale <= CX_RATING_STARS ? ev->rating_scale : 0;
    cx_sentiment band = cx__rating_sentiment(ev);
    emit_fixed(e, 1.0f, names[scale][band], &memo[scale][band]);
}

/* True when w[n] is the word lit, in any ASCII case. */
static int word_is(const char *w, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(w, lit, n) == 0;
}

/* Which part the header w[n] (the word before a colon) opens: 0 what the
 * writer liked ("Liked:", "Pros:"), 1 what they did not ("Disliked:",
 * "Cons:"), -1 none. */
static int section_kind(const char *w, size_t n)
{
    static const struct {
        const char *word;
        int part;
    } headers[] = {{"liked", 0},     {"pros", 0},     {"pro", 0},       {"positive", 0},
                   {"positives", 0}, {"good", 0},     {"disliked", 1},  {"cons", 1},
                   {"con", 1},       {"negative", 1}, {"negatives", 1}, {"bad", 1}};
    for (size_t k = 0; k < sizeof headers / sizeof *headers; k++)
        if (word_is(w, n, headers[k].word))
            return headers[k].part;
    return -1;
}

/* Feedback in pros-and-cons form, as survey forms and review sites collect it
 * in two fields ("Liked: ... Disliked: ...", "Pros: ... Cons: ..."): the
 * header, not the words, says what each part is, and the balance of the two
 * is what decides a mixed review. When the text has both headers, emits how
 * much longer one part is than the other, in words (a part that says only
 * "nothing" or "none" counts as empty). */
static void section_features(const emitter *e, const char *t, size_t len)
{
    int words[2] = {0, 0}, seen[2] = {0, 0}, nothing[2] = {0, 0}, cur = -1;
    for (size_t i = 0; i < len;) {
        if (!cx__ascii_alnum((unsigned char)t[i])) {
            i++;
            continue;
        }
        size_t s = i;
        while (i < len && cx__ascii_alnum((unsigned char)t[i]))
            i++;
        int part = i < len && t[i] == ':' ? section_kind(t + s, i - s) : -1;
        if (part >= 0) {
            cur = part;
            seen[cur] = 1;
        } else if (cur >= 0) {
            words[cur]++;
            if (word_is(t + s, i - s, "nothing") || word_is(t + s, i - s, "none"))
                nothing[cur] = 1;
        }
    }
    if (!seen[0] || !seen[1])
        return;
    for (int k = 0; k < 2; k++)
        if (nothing[k] && words[k] <= 3)
            words[k] = 0;
    static const char *const names[] = {"sections:cons much longer",  "sections:cons longer",
                                        "sections:cons a bit longer", "sections:even",
                                        "sections:pros a bit longer", "sections:pros longer",
                                        "sections:pros much longer"};
    static atomic_uint_fast32_t memo[7];
    /* log2 of the ratio, rounded: "a bit" is about 2 times, "much" 8 or more */
    long bin = lrintf(log2f((float)(words[0] + 1) / (float)(words[1] + 1)));
    bin = bin < -3 ? -3 : bin > 3 ? 3 : bin;
    emit_fixed(e, 1.0f, names[bin + 3], &memo[bin + 3]);
}

static void ignore_feature(void *ctx, uint32_t bucket, cx_feature_group g, float value,
                           const char *name, size_t name_len)
{
    (void)ctx, (void)bucket, (void)g, (void)value, (void)name, (void)name_len;
}

int cx__features_words(const cx_classifier *rules, const char *text, size_t len,
                       cx_lex_words *words)
{
    int counts[CX_FG_COUNT] = {0};
    scratch *sc = cx__scratch(CX_SCRATCH_FEATURES, sizeof *sc);
    emitter e = {ignore_feature, NULL, NULL, counts, &sc->seen};
    return text_features(&e, sc->memo, cx__classifier_valence(rules), text, len,
                         cx__classifier_lexicon(rules), words);
}

void cx__features(const cx_classifier *rules, const cx_valence *val, const cx_event *ev,
                  cx_tags *tags, cx_rule_hits *hits, cx_feature_fn fn, cx_chars_fn chars, void *ctx,
                  int counts[CX_FG_COUNT], cx_valence_score *vs)
{
    scratch *sc = cx__scratch(CX_SCRATCH_FEATURES, sizeof *sc);
    emitter e = {fn, chars, ctx, counts, &sc->seen};
    const cx_lexicon *lex = rules != NULL ? cx__classifier_lexicon(rules) : NULL;
    int have_words = 0;
    static const char *const bins[] = {"lexicon:very negative", "lexicon:negative",
                                       "lexicon:neutral", "lexicon:positive",
                                       "lexicon:very positive"};
    memset(counts, 0, sizeof(int) * CX_FG_COUNT);
    emit(&e, CX_FG_DENSE, 1.0f, "", "bias", 4, 0);
    if (ev->text != NULL) {
        have_words = text_features(&e, sc->memo, val, ev->text, ev->text_len, lex, &sc->words);
        section_features(&e, ev->text, ev->text_len);
    }
    if (rules != NULL) /* the text read once for both */
        cx__classifier_rules(rules, ev, have_words ? &sc->words : NULL, tags, hits);
    cx__valence_score(val, ev->text, ev->text ? ev->text_len : 0, vs);

    /* Per category (in cx_category order): its phrases, by polarity, its fields. */
    static const char *const rule_names[CX_CAT_COUNT][5] = {
        {"rules:facing", "rules:facing complaint", "rules:facing mention", "rules:facing praise",
         "fields:facing"},
        {"rules:collaborative", "rules:collaborative complaint", "rules:collaborative mention",
         "rules:collaborative praise", "fields:collaborative"},
        {"rules:external", "rules:external complaint", "rules:external mention",
         "rules:external praise", "fields:external"},
        {"rules:performance", "rules:performance complaint", "rules:performance mention",
         "rules:performance praise", "fields:performance"},
    };
    static atomic_uint_fast32_t rule_memo[CX_CAT_COUNT][5], bin_memo[5];
    for (int c = 0; c < CX_CAT_COUNT; c++) {
        if (hits->phrase[c] > 0)
            emit_fixed(&e, 1.0f - expf(-hits->phrase[c]), rule_names[c][0], &rule_memo[c][0]);
        for (int k = 0; k < 3; k++)
            if (hits->by_polarity[c][k] > 0)
                emit_fixed(&e, 1.0f - expf(-hits->by_polarity[c][k]), rule_names[c][1 + k],
                           &rule_memo[c][1 + k]);
        if (hits->field[c] > 0)
            emit_fixed(&e, 1.0f - expf(-hits->field[c]), rule_names[c][4], &rule_memo[c][4]);
    }
    for (int k = 0; k < hits->n_hit; k++)
        emit_s(&e, 1.0f, "", hits->hit[k]);
    if (hits->sentiment != 0)
        EMIT_CONST(&e, tanhf(hits->sentiment), "rules:sentiment");

    float x = vs->compound;
    EMIT_CONST(&e, x, "lexicon:compound");
    int bin = x <= -0.5f ? 0 : x <= -0.05f ? 1 : x < 0.05f ? 2 : x < 0.5f ? 3 : 4;
    emit_fixed(&e, 1.0f, bins[bin], &bin_memo[bin]);
    if (vs->pos > 0)
        EMIT_CONST(&e, fminf(vs->pos / 4, 2), "lexicon:positive words");
    if (vs->neg > 0)
        EMIT_CONST(&e, fminf(vs->neg / 4, 2), "lexicon:negative words");
    if (vs->afinn != 0)
        EMIT_CONST(&e, fmaxf(-2, fminf(vs->afinn / 8, 2)), "lexicon:afinn");
    if (vs->emoji != 0)
        EMIT_CONST(&e, fmaxf(-2, fminf(vs->emoji / 3, 2)), "lexicon:emoji");
    if (vs->caps)
        EMIT_CONST(&e, capped(vs->caps, 3), "lexicon:caps");
    if (vs->exclaim)
        EMIT_CONST(&e, capped(vs->exclaim, 3), "lexicon:exclamation");
    if (vs->question)
        EMIT_CONST(&e, capped(vs->question, 2), "lexicon:question");
    if (vs->sarcasm)
        EMIT_CONST(&e, capped(vs->sarcasm, 2), "lexicon:sarcasm");
    if (vs->fail)
        EMIT_CONST(&e, capped(vs->fail, 3), "cue:stated failure");
    if (vs->neg_fail)
        EMIT_CONST(&e, capped(vs->neg_fail, 2), "cue:negated problem");
    if (vs->still_again)
        EMIT_CONST(&e, capped(vs->still_again, 2), "cue:still/again");
    if (vs->neg_verb)
        EMIT_CONST(&e, capped(vs->neg_verb, 2), "cue:negated service verb");
    if (vs->duration)
        EMIT_CONST(&e, capped(vs->duration, 2), "cue:duration");
    if (vs->you)
        EMIT_CONST(&e, capped(vs->you, 3), "cue:second person");
    if (vs->resolved)
        EMIT_CONST(&e, capped(vs->resolved, 2), "cue:resolved");

    if (ev->channel)
        emit_s(&e, 1.0f, "channel:", ev->channel);
    if (ev->touchpoint)
        emit_s(&e, 1.0f, "touchpoint:", ev->touchpoint);
    if (ev->attributes != NULL) {
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)ev->attributes, key, v)
        {
            (void)v;
            emit_s(&e, 1.0f, "attribute:", key);
        }
    }
    rating_features(&e, ev);
}

float cx__rule_offset(const cx_rule_hits *hits, int c)
{
    const float *p = hits->by_polarity[c];
    return CX_RULE_OFFSET * (1.0f - expf(-(p[0] + p[2] + 0.5f * p[1])));
}

float cx__feature_scale(cx_feature_group g, const int counts[CX_FG_COUNT])
{
    if (g == CX_FG_DENSE || counts[g] == 0)
        return 1.0f;
    return 1.0f / sqrtf((float)counts[g]);
}

/* ---- Fingerprint ---------------------------------------------------------- */

/* Events that between them take the paths of the extractor and of the
 * reading of text before it (HTML, quoted history, a signature, a transcript
 * and its customer's turns, negation in both forms, emoji (with and without
 * a presentation selector), pros and cons,
 * ratings, fields): what either makes of them changes the fingerprint. Each
 * in parentheses: one literal written in parts. */
static const char *const probes[] = {
    ("{\"event_id\":\"p1\",\"occurred_at\":\"2025-01-01T00:00:00Z\",\"channel\":\"chat\","
     "\"touchpoint\":\"delivery\",\"attributes\":{\"carrier\":\"X\"},"
     "\"rating\":{\"scale\":\"csat\",\"value\":2},\"text\":\"The courier was 3 days LATE "
     "again!!! Not happy, unhelpful staff and I didn\\u2019t get a refund :( \\ud83d\\ude21 "
     "@acme https://x.example/a?b=1 Great, cancelled again.\"}"),
    ("{\"event_id\":\"p2\",\"occurred_at\":\"2025-01-01T00:00:00Z\",\"channel\":\"email\","
     "\"text\":\"<p>The agent wasn&#39;t polite &amp; my bill is wrong.</p><br>Regards,<br>Jo "
     "Smith<br>Sent from my phone<blockquote>On Mon, 1 Jan 2025, Acme "
     "&lt;help@acme.com&gt; wrote:<br>Great news! Your refund was processed.</blockquote>\"}"),
    ("{\"event_id\":\"p3\",\"occurred_at\":\"2025-01-01T00:00:00Z\",\"channel\":\"chat\","
     "\"text\":\"Customer: where is my refund?\\nAgent: Great news, it was sent today\\n"
     "Customer: still not here after 2 weeks, very dissatisfied\"}"),
    ("{\"event_id\":\"p4\",\"occurred_at\":\"2025-01-01T00:00:00Z\",\"language\":\"en\","
     "\"rating\":{\"scale\":\"nps\",\"value\":9},\"text\":\"Liked: lovely room "
     "\\u2764\\ufe0f\\u2764\\ufe0f, friendly "
     "caf\\u00e9 staff. Disliked: nothing\"}"),
    ("{\"event_id\":\"p5\",\"occurred_at\":\"2025-01-01T00:00:00Z\",\"rating\":{\"scale\":"
     "\"stars\",\"value\":1}}"),
};

/* Folds one feature into the fingerprint (ctx: the hash so far). */
static void fingerprint_fn(void *ctx, uint32_t bucket, cx_feature_group g, float value,
                           const char *name, size_t name_len)
{
    uint64_t *h = ctx;
    char s[48];
    (void)name, (void)name_len; /* the bucket is the name's */
    /* the value to 1/1000: a compiler that rounds a last bit otherwise makes
     * the same features */
    int n = snprintf(s, sizeof s, "%u %d %ld;", (unsigned)bucket, (int)g, lroundf(value * 1000));
    *h = hash_more(*h, s, (size_t)n);
}

uint64_t cx__features_fingerprint(const cx_valence *val)
{
    /* parsed again each time: called once per classifier and per training */
    uint64_t h = hash_more(CX_HASH_SEED, "cxpulse features", 16);
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        cx_event ev, view, turns_view;
        char err[256];
        if (cx_event_parse(&ev, probes[i], strlen(probes[i]), err, sizeof err) != CX_OK)
            return 0; /* a test sees it */
        /* as read, and its customer's turns (NULL: not a transcript) */
        const cx_event *views[2];
        views[0] = cx__text_view(&ev, &view);
        views[1] = cx__text_customer_view(views[0], &turns_view);
        for (int k = 0; k < 2 && views[k] != NULL; k++) {
            cx_rule_hits hits;
            cx_valence_score vs;
            int counts[CX_FG_COUNT];
            memset(&hits, 0, sizeof hits);
            cx__features(NULL, val, views[k], NULL, &hits, fingerprint_fn, NULL, &h, counts, &vs);
            for (int g = 0; g < CX_FG_COUNT; g++)
                fingerprint_fn(&h, 0, (cx_feature_group)g,
                               cx__feature_scale((cx_feature_group)g, counts), NULL, 0);
        }
        cx_event_clear(&ev);
    }
    return h;
}
