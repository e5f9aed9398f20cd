/*
 * classify.c - rule loading and scoring: phrase lexicons and field conditions
 * become per-category confidences, evidence and a sentiment (format in
 * docs/rules.md), combined with the learned model (docs/model.md).
 *
 * Rules: each distinct phrase or condition that matches adds its weight to
 * its category; confidence = 1 - exp(-sum). A complaint phrase (polarity -1)
 * under negation ("not rude") adds nothing to its category and counts for
 * sentiment with its sign flipped and halved.
 *
 * With a model, the rules' hits are among the model's features; a category is
 * assigned when the model's probability reaches its threshold (reported as
 * confidence 0.5), or when field conditions alone reach confidence 0.5
 * (they stay certain). A rating decides the sentiment (the labeling guide's
 * table); otherwise the model does, or without a model the lexicons and the
 * rules' sentiment terms.
 */
#include "classify.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "language.h"
#include "lexicon.h"
#include "model.h"
#include "text.h"

/* Negation reaches this many words forward, within a clause. */
#define NEGATION_WINDOW 3
/* Distinct phrase matches counted per event, as said and as negated (each
 * counts once); past this many, further distinct ones are not counted. */
#define MAX_SEEN 256

typedef enum payload_kind { P_CATEGORY, P_SENTIMENT } payload_kind;

/* What a trie node means; a node can carry several (a chain through next). */
typedef struct payload {
    int32_t next;       /* index of the next payload of the same node, -1 = end */
    payload_kind kind;
    cx_category cat;    /* P_CATEGORY */
    float weight;       /* category weight, or sentiment magnitude */
    int polarity;       /* -1 complaint/negative, 0 neutral mention, +1 praise/positive */
    const char *evidence; /* "phrase:<text>" (the evidence of P_CATEGORY) */
    size_t doc;           /* the rule file that defined it (index in documents) */
} payload;

typedef enum cond_op {
    OP_PRESENT, OP_ABSENT, OP_EQ, OP_NE, OP_IN, OP_LT, OP_LE, OP_GT, OP_GE, OP_BEFORE, OP_AFTER
} cond_op;

/* A field path, resolved once at load time. */
typedef enum field_kind {
    F_CHANNEL, F_TOUCHPOINT, F_LANGUAGE, F_CUSTOMER_ID, F_RATING_SCALE, F_RATING_VALUE, F_ATTRIBUTE
} field_kind;

/* The value of a field path in an event or of a rule's value: a number or a
 * string (borrowed). */
typedef struct fval {
    const char *str;
    double num;
    int is_num, present;
    int text;    /* read from text: "3", not 3 */
    int literal; /* a rule's value, not an event's */
} fval;

typedef struct clause {
    char *field;  /* "channel", "touchpoint", "rating.value", "attributes.<key>", ... */
    cond_op op;
    char *other;  /* compare with this field instead of value */
    json_t *value;
    field_kind field_kind, other_kind;
    uint64_t field_bit, other_bit; /* attributes: key_bit() of the key */
    fval *in;                      /* OP_IN: value's items, read once */
    size_t n_in;
} clause;

static fval json_fval(const json_t *j);

typedef struct condition {
    cx_category cat;
    float weight;   /* 0: switched off by a later file */
    char *evidence; /* "field:<name>" */
    size_t doc;     /* the rule file that defined it */
    clause *clauses;
    size_t n_clauses;
} condition;

struct cx_classifier {
    cx_lexicon *lex;
    int32_t *node_payload; /* per trie node: first payload index or -1 */
    size_t node_payload_cap;
    payload *payloads;
    size_t n_payloads, payloads_cap;
    condition *conds;
    size_t n_conds, conds_cap;
    char **strings; /* owned evidence strings */
    size_t n_strings, strings_cap;
    const char **warnings; /* in strings */
    size_t n_warnings, warnings_cap;
    char version[4 * CX_CLASSIFIER_VERSION_MAX_CHARS + 96]; /* declared (UTF-8) + "+" + hash
                                                            + "+" + model version */
    json_t *documents; /* [{"file": name, "rules": document}, ...] */
    cx_valence *val;   /* sentiment lexicons */
    cx_model *model;   /* NULL: rules only */
    int english_only;  /* the built-in model, or the rules alone: English text only */
    uint64_t rules_hash; /* of the rule files' text, in order */
};

static const char *const category_names[CX_CAT_COUNT] = {"facing", "collaborative", "external",
                                                         "performance"};
static const char *const sentiment_names[CX_SENT_COUNT] = {"negative", "neutral", "positive"};

const char *cx_category_name(cx_category cat)
{
    return (unsigned)cat < CX_CAT_COUNT ? category_names[cat] : NULL;
}

cx_category cx_tags_primary(const cx_tags *t)
{
    return t->n_assigned > 0 ? t->order[0] : CX_CAT_COUNT;
}

cx_status cx_category_from_name(const char *name, cx_category *out)
{
    for (int i = 0; i < CX_CAT_COUNT; i++)
        if (strcmp(name, category_names[i]) == 0) {
            *out = (cx_category)i;
            return CX_OK;
        }
    return CX_ERR_NOTFOUND;
}

const char *cx_sentiment_name(cx_sentiment s)
{
    return (unsigned)s < CX_SENT_COUNT ? sentiment_names[s] : NULL;
}

/* ---- Building ------------------------------------------------------------ */

/* Grows *arr (of elem bytes) so that index n fits; 0 on success. */
static int reserve(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 64;
    while (c <= n)
        c *= 2;
    void *p = realloc(*arr, c * elem);
    if (p == NULL)
        return -1;
    *arr = p;
    *cap = c;
    return 0;
}

static char *keep_string(cx_classifier *clf, const char *prefix, const char *s)
{
    if (reserve((void **)&clf->strings, &clf->strings_cap, clf->n_strings, sizeof(char *)))
        return NULL;
    size_t n = strlen(prefix) + strlen(s) + 1;
    char *copy = malloc(n);
    if (copy == NULL)
        return NULL;
    snprintf(copy, n, "%s%s", prefix, s);
    clf->strings[clf->n_strings++] = copy;
    return copy;
}

/* Keeps "phrase:<term>" with the term's runs of white space made one space
 * and its ends trimmed, as evidence shows it. */
static char *keep_term(cx_classifier *clf, const char *term)
{
    char *e = keep_string(clf, "phrase:", term);
    if (e == NULL)
        return NULL;
    char *w = e + 7;
    for (const char *r = e + 7; *r != '\0'; r++) {
        if (!isspace((unsigned char)*r))
            *w++ = *r;
        else if (w > e + 7 && !isspace((unsigned char)r[1]) && r[1] != '\0')
            *w++ = ' ';
    }
    *w = '\0';
    return e;
}

typedef struct loader {
    cx_classifier *clf;
    size_t doc; /* the file's index among the classifier's documents */
    const char *file;
    const char *part; /* the clause an error is in ("all[1]"), or NULL */
    char *err;        /* the errors found, one a line (file_err) */
    size_t errlen;
    int *errors; /* how many */
} loader;

/* The most errors of a rule file told; the rest are counted. */
#define ERRORS_MAX 20

/* Keeps a warning about the rule files (the last of WARNINGS_MAX says that more were left out). */
#define WARNINGS_MAX 100
static cx_status warn(cx_classifier *clf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static cx_status warn(cx_classifier *clf, const char *fmt, ...)
{
    if (clf->n_warnings == WARNINGS_MAX)
        return CX_OK;
    char msg[512] = "further warnings are left out";
    if (clf->n_warnings < WARNINGS_MAX - 1) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    }
    const char *kept = keep_string(clf, "", msg);
    if (kept == NULL ||
        reserve((void **)&clf->warnings, &clf->warnings_cap, clf->n_warnings, sizeof(char *)))
        return CX_ERR_NOMEM;
    clf->warnings[clf->n_warnings++] = kept;
    return CX_OK;
}

static const char *polarity_name(payload_kind kind, int polarity)
{
    if (kind == P_SENTIMENT)
        return polarity < 0 ? "negative" : "positive";
    return polarity < 0 ? "complaint" : polarity > 0 ? "praise" : "mention";
}

/* The name of the rule file loaded as document doc. */
static const char *doc_file(const cx_classifier *clf, size_t doc)
{
    return json_string_value(json_object_get(json_array_get(clf->documents, doc), "file"));
}

/* Adds what the phrase at node means. What an earlier file said the phrase
 * means for the same category (or sentiment) is switched off: a later file
 * overrides. Matching is by the phrase as read, so a term replaces every
 * earlier term that reads as the same phrase ("booked" replaces "booking");
 * when one was spelt otherwise, that is reported as a warning, and so is a
 * weight 0 that switches nothing off. Within one file, a phrase that reads
 * like another one (the stemmer makes "shipped" and "shipping" one phrase)
 * is merged with it: with the same meaning the larger weight counts for both,
 * with another polarity of the same category both count. Either is reported
 * as a warning (ld->file, rule) when it changes what the file says. */
static cx_status add_payload(const loader *ld, const char *rule, int32_t node, payload p)
{
    cx_classifier *clf = ld->clf;
    size_t old = clf->node_payload_cap;
    if (reserve((void **)&clf->node_payload, &clf->node_payload_cap, (size_t)node,
                sizeof(int32_t)) ||
        reserve((void **)&clf->payloads, &clf->payloads_cap, clf->n_payloads, sizeof(payload)))
        return CX_ERR_NOMEM;
    for (size_t i = old; i < clf->node_payload_cap; i++)
        clf->node_payload[i] = -1;
    const char *what = p.kind == P_SENTIMENT ? "sentiment" : category_names[p.cat];
    const char *b = p.evidence + 7; /* after "phrase:" */
    int replaced = 0;
    for (int32_t i = clf->node_payload[node]; i >= 0; i = clf->payloads[i].next) {
        payload *q = &clf->payloads[i];
        if (q->kind != p.kind || q->cat != p.cat)
            continue;
        const char *a = q->evidence + 7;
        cx_status st = CX_OK;
        if (q->doc != ld->doc) {
            if (q->weight > 0.0f) {
                replaced = 1;
                if (strcasecmp(a, b) != 0)
                    st = warn(clf,
                              "%s: rule \"%s\": \"%s\" (%s) reads as the same phrase as \"%s\" "
                              "in %s, so it replaces that too (weight %g for both)",
                              ld->file, rule, b, what, a, doc_file(clf, q->doc), p.weight);
            }
            q->weight = 0.0f;
            if (st != CX_OK)
                return st;
            continue;
        }
        if (q->polarity != p.polarity)
            st = warn(clf,
                      "%s: rule \"%s\": \"%s\" (%s %s) reads as the same phrase as \"%s\" "
                      "(%s %s): it counts as both",
                      ld->file, rule, b, what, polarity_name(p.kind, p.polarity), a, what,
                      polarity_name(q->kind, q->polarity));
        else if (q->weight != p.weight)
            st = warn(clf,
                      "%s: rule \"%s\": \"%s\" (%s %s, weight %g) reads as the same phrase "
                      "as \"%s\" (weight %g): weight %g counts for both",
                      ld->file, rule, b, what, polarity_name(p.kind, p.polarity), p.weight, a,
                      q->weight, fmaxf(q->weight, p.weight));
        if (st != CX_OK)
            return st;
        if (q->polarity == p.polarity) {
            q->weight = fmaxf(q->weight, p.weight);
            return CX_OK;
        }
    }
    if (p.weight == 0.0f && !replaced &&
        warn(clf,
             "%s: rule \"%s\": \"%s\" has weight 0, but no earlier file gives it a weight "
             "for %s: it switches nothing off",
             ld->file, rule, b, what) != CX_OK)
        return CX_ERR_NOMEM;
    p.next = clf->node_payload[node];
    clf->payloads[clf->n_payloads] = p;
    clf->node_payload[node] = (int32_t)clf->n_payloads++;
    return CX_OK;
}

static cx_status rule_err(const loader *ld, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static cx_status file_err(const loader *ld, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Adds an error of the file (its text after "file: ") to those found, a
 * line each, so that one run shows a rule author all of them; returns
 * CX_ERR_CONFIG. The loaders go on to the next phrase group, condition or
 * section after one. */
static cx_status file_err(const loader *ld, const char *fmt, ...)
{
    if (*ld->errors < ERRORS_MAX) {
        char line[768];
        int n = snprintf(line, sizeof line, "%s: ", ld->file);
        va_list ap;
        va_start(ap, fmt);
        if (n > 0 && (size_t)n < sizeof line)
            vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        va_end(ap);
        cx_escape_controls(line, sizeof line); /* a line each, whatever a term holds */
        /* whole lines only after the first, leaving room for the count */
        size_t at = *ld->errors > 0 ? strlen(ld->err) : 0, room = strlen(ld->file) + 48;
        if (at == 0 || at + 1 + strlen(line) + room < ld->errlen)
            snprintf(ld->err + at, ld->errlen - at, "%s%s", at > 0 ? "\n" : "", line);
    }
    (*ld->errors)++;
    return CX_ERR_CONFIG;
}

/* Reports `file: rule "name": reason` (file_err) and returns CX_ERR_CONFIG. */
static cx_status rule_err(const loader *ld, const char *rule, const char *fmt, ...)
{
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return file_err(ld, "rule \"%s\"%s%s: %s", rule, ld->part ? ", clause " : "",
                    ld->part ? ld->part : "", reason);
}

/* Reads a weight in [0, 3] from obj["weight"] (default dflt); 0 switches off
 * what an earlier file defined. */
static cx_status read_weight(const loader *ld, const char *rule, const json_t *obj, float dflt,
                             float *out)
{
    const json_t *w = json_object_get(obj, "weight");
    if (w == NULL) {
        *out = dflt;
        return CX_OK;
    }
    if (!json_is_number(w) || json_number_value(w) < 0 || json_number_value(w) > 3)
        return rule_err(ld, rule, "%s", "\"weight\" must be a number in [0, 3]");
    *out = (float)json_number_value(w);
    return CX_OK;
}

/* Refuses a key of o that is not one of keys[0..n) (so that a typo never
 * passes silently). */
static cx_status only_keys(const loader *ld, const char *rule, const json_t *o,
                           const char *const *keys, size_t n)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)o, key, v)
    {
        size_t i;
        for (i = 0; i < n && strcmp(key, keys[i]) != 0; i++)
            ;
        if (i == n) {
            cx_typo t = CX_TYPO_INIT(key);
            char hint[96];
            for (i = 0; i < n; i++)
                cx_typo_offer(&t, keys[i]);
            return rule_err(ld, rule, "unknown key \"%s\"%s", key,
                            cx_typo_hint(&t, 1, hint, sizeof hint));
        }
    }
    return CX_OK;
}

/* Keeps in *st the first error of steps that each go on after the others'
 * refusals (CX_ERR_CONFIG); 1 when r is out of memory: stop. */
static int worse(cx_status *st, cx_status r)
{
    if (r != CX_OK && (*st == CX_OK || r == CX_ERR_NOMEM))
        *st = r;
    return r == CX_ERR_NOMEM;
}

/* Loads one phrase group g, named rule: {"weight": w, "polarity": p, "terms": [...]}. */
static cx_status load_group(const loader *ld, const json_t *g, const char *rule, payload_kind kind,
                            cx_category cat, int fixed_polarity)
{
    if (!json_is_object(g))
        return rule_err(ld, rule, "%s", "a phrase group must be an object");
    static const char *const keys[] = {"weight", "polarity", "terms", "comment"};
    cx_status st = only_keys(ld, rule, g, keys, CX_ARRAY_LEN(keys));
    if (st != CX_OK)
        return st;
    float weight = 1.0f;
    st = read_weight(ld, rule, g, 1.0f, &weight);
    if (st != CX_OK)
        return st;
    int polarity = fixed_polarity;
    const json_t *pol = json_object_get(g, "polarity");
    if (pol != NULL) {
        if (kind != P_CATEGORY || !json_is_integer(pol) || json_integer_value(pol) < -1 ||
            json_integer_value(pol) > 1)
            return rule_err(ld, rule, "%s", "\"polarity\" must be -1, 0 or 1 (phrases only)");
        polarity = (int)json_integer_value(pol);
    }
    const json_t *terms = json_object_get(g, "terms");
    if (!json_is_array(terms) || json_array_size(terms) == 0)
        return rule_err(ld, rule, "%s", "\"terms\" must be a non-empty array of strings");
    size_t j;
    const json_t *t;
    cx_status bad = CX_OK; /* a term refused: the others are still looked at */
    json_array_foreach(terms, j, t)
    {
        int32_t node;
        const char *why = NULL;
        if (!json_is_string(t)) {
            bad = rule_err(ld, rule, "%s", "every term must be a string");
            continue;
        }
        st = cx__lex_add_phrase(ld->clf->lex, json_string_value(t), &node, &why);
        if (st == CX_ERR_NOMEM)
            return cx_errf(ld->err, ld->errlen, st, "%s: out of memory", ld->file);
        if (st != CX_OK) {
            bad = rule_err(ld, rule, "term \"%s\" %s", json_string_value(t), why);
            continue;
        }
        const char *pattern = strpbrk(json_string_value(t), "|*[](){}+^$\\");
        if (pattern != NULL &&
            warn(ld->clf,
                 "%s: rule \"%s\": term \"%s\" has \"%c\": terms are words, not patterns, "
                 "and punctuation only separates them",
                 ld->file, rule, json_string_value(t), *pattern) != CX_OK)
            return cx_errf(ld->err, ld->errlen, CX_ERR_NOMEM, "%s: out of memory", ld->file);
        payload p = {
            .kind = kind, .cat = cat, .weight = weight, .polarity = polarity, .doc = ld->doc};
        if ((p.evidence = keep_term(ld->clf, json_string_value(t))) == NULL)
            return cx_errf(ld->err, ld->errlen, CX_ERR_NOMEM, "%s: out of memory", ld->file);
        if (add_payload(ld, rule, node, p) != CX_OK)
            return cx_errf(ld->err, ld->errlen, CX_ERR_NOMEM, "%s: out of memory", ld->file);
    }
    return bad;
}

/*
 * Loads a list of phrase groups: [{"weight": w, "polarity": p, "terms": [...]}, ...].
 * kind/cat say what they mean; rule names are "<section>[i]". A group refused
 * (CX_ERR_CONFIG) leaves the others to be looked at.
 */
static cx_status load_groups(const loader *ld, const json_t *groups, const char *section,
                             payload_kind kind, cx_category cat, int fixed_polarity)
{
    char rule[96];
    if (!json_is_array(groups)) {
        snprintf(rule, sizeof rule, "%s", section);
        return rule_err(ld, rule, "%s", "must be an array of phrase groups");
    }
    size_t i;
    const json_t *g;
    cx_status bad = CX_OK;
    json_array_foreach(groups, i, g)
    {
        snprintf(rule, sizeof rule, "%s[%zu]", section, i);
        if (worse(&bad, load_group(ld, g, rule, kind, cat, fixed_polarity)))
            return bad;
    }
    return bad;
}

static cx_status load_words(const loader *ld, const json_t *words, const char *section,
                            unsigned flag)
{
    size_t i;
    const json_t *w;
    if (!json_is_array(words))
        return rule_err(ld, section, "%s", "must be an array of single words");
    cx_status bad = CX_OK;
    json_array_foreach(words, i, w)
    {
        if (!json_is_string(w) ||
            cx__lex_flag_word(ld->clf->lex, json_string_value(w), flag) != CX_OK)
            bad = rule_err(ld, section, "entry %s%s%s is not a single word",
                           json_is_string(w) ? "\"" : "",
                           json_is_string(w) ? json_string_value(w) : "(not a string)",
                           json_is_string(w) ? "\"" : "");
    }
    return bad;
}

static const struct {
    const char *name;
    cond_op op;
} op_names[] = {
    {"present", OP_PRESENT}, {"absent", OP_ABSENT}, {"eq", OP_EQ},        {"ne", OP_NE},
    {"in", OP_IN},           {"lt", OP_LT},         {"le", OP_LE},        {"gt", OP_GT},
    {"ge", OP_GE},           {"before", OP_BEFORE}, {"after", OP_AFTER},
};

/* Resolves a field path into *kind; 0 if it is not one. */
static int field_path_ok(const char *f, field_kind *kind)
{
    static const char *const plain[] = {"channel", "touchpoint", "language", "customer_id",
                                        "rating.scale", "rating.value"};
    for (size_t i = 0; i < CX_ARRAY_LEN(plain); i++)
        if (strcmp(f, plain[i]) == 0) {
            *kind = (field_kind)i;
            return 1;
        }
    *kind = F_ATTRIBUTE;
    return strncmp(f, "attributes.", 11) == 0 && f[11] != '\0';
}

/* An attribute key's bit in an event's key signature (see attribute_keys()). */
static uint64_t key_bit(const char *key, size_t n)
{
    return 1ULL << (cx__hash_word(key, n) >> 58);
}

/* A value eq, ne and in compare with: a string or a number (an event's
 * booleans read as "true" and "false"). */
static int comparable(const json_t *v)
{
    return json_is_string(v) || json_is_number(v);
}

static cx_status load_clause(const loader *ld, const char *rule, const json_t *c, clause *out)
{
    static const char *const keys[] = {"field", "op", "value", "other", "comment"};
    if (!json_is_object(c))
        return rule_err(ld, rule, "%s", "a clause must be an object");
    cx_status st = only_keys(ld, rule, c, keys, CX_ARRAY_LEN(keys));
    if (st != CX_OK)
        return st;
    const char *field = json_string_value(json_object_get(c, "field"));
    const char *op = json_string_value(json_object_get(c, "op"));
    const json_t *value = json_object_get(c, "value");
    const char *other = json_string_value(json_object_get(c, "other"));
    if (field == NULL || !field_path_ok(field, &out->field_kind))
        return rule_err(ld, rule, "bad field path \"%s\" (use channel, touchpoint, language, "
                                  "customer_id, rating.scale, rating.value or attributes.<key>)",
                        field ? field : "(missing)");
    if (op == NULL)
        return rule_err(ld, rule, "%s", "missing \"op\"");
    size_t i;
    for (i = 0; i < CX_ARRAY_LEN(op_names); i++)
        if (strcmp(op, op_names[i].name) == 0)
            break;
    if (i == CX_ARRAY_LEN(op_names))
        return rule_err(ld, rule, "unknown operator \"%s\"", op);
    out->op = op_names[i].op;
    if (other != NULL && !field_path_ok(other, &out->other_kind))
        return rule_err(ld, rule, "bad field path \"%s\" in \"other\"", other);
    if (value != NULL && json_object_get(c, "other") != NULL)
        return rule_err(ld, rule, "%s", "give \"value\" or \"other\", not both");
    switch (out->op) {
    case OP_PRESENT:
    case OP_ABSENT:
        if (value != NULL || json_object_get(c, "other") != NULL)
            return rule_err(ld, rule, "operator \"%s\" takes no \"value\" or \"other\"", op);
        break;
    case OP_IN: {
        if (json_object_get(c, "other") != NULL)
            return rule_err(ld, rule, "operator \"%s\" compares with \"value\" only", op);
        if (!json_is_array(value) || json_array_size(value) == 0)
            return rule_err(ld, rule, "operator \"%s\" needs a non-empty array \"value\"", op);
        size_t k;
        const json_t *x;
        json_array_foreach(value, k, x)
        {
            if (!comparable(x))
                return rule_err(ld, rule,
                                "operator \"%s\": \"value\"[%zu] must be a string or a number", op,
                                k);
        }
        break;
    }
    case OP_EQ:
    case OP_NE:
        if (value == NULL && other == NULL)
            return rule_err(ld, rule, "operator \"%s\" needs \"value\" or \"other\"", op);
        if (value != NULL && !comparable(value))
            return rule_err(ld, rule,
                            "operator \"%s\": \"value\" must be a string or a number (an "
                            "event's true reads as \"true\")",
                            op);
        break;
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE:
        if (other == NULL && !json_is_number(value))
            return rule_err(ld, rule, "operator \"%s\" needs a number \"value\" or \"other\"", op);
        break;
    case OP_BEFORE:
    case OP_AFTER: {
        int64_t us;
        if (other == NULL && (!json_is_string(value) ||
                              cx_time_parse_date(json_string_value(value), &us) != CX_OK))
            return rule_err(ld, rule, "operator \"%s\" needs a date \"value\" or \"other\"", op);
        break;
    }
    }
    out->field = strdup(field);
    out->other = other ? strdup(other) : NULL;
    if (out->field_kind == F_ATTRIBUTE)
        out->field_bit = key_bit(field + 11, strlen(field + 11));
    if (other != NULL && out->other_kind == F_ATTRIBUTE)
        out->other_bit = key_bit(other + 11, strlen(other + 11));
    out->value = value ? json_incref((json_t *)value) : NULL;
    if (out->field == NULL || (other != NULL && out->other == NULL))
        return cx_errf(ld->err, ld->errlen, CX_ERR_NOMEM, "%s: out of memory", ld->file);
    if (out->op == OP_IN) {
        const json_t *x;
        if ((out->in = calloc(json_array_size(value), sizeof *out->in)) == NULL)
            return cx_errf(ld->err, ld->errlen, CX_ERR_NOMEM, "%s: out of memory", ld->file);
        json_array_foreach(value, i, x) out->in[out->n_in++] = json_fval(x);
    }
    return CX_OK;
}

/* Loads condition c, the i-th of a category's. A condition of weight 0
 * switches off the earlier files' condition of its name and needs no clauses. */
static cx_status load_condition(const loader *ld, const json_t *c, size_t i, cx_category cat)
{
    cx_classifier *clf = ld->clf;
    char rule[96];
    const char *name = json_string_value(json_object_get(c, "name"));
    if (name == NULL || name[0] == '\0') {
        snprintf(rule, sizeof rule, "conditions[%zu]", i);
        return rule_err(ld, rule, "%s",
                        json_is_object(c) ? "every condition needs a \"name\""
                                          : "a condition must be an object");
    }
    snprintf(rule, sizeof rule, "%s", name);
    static const char *const keys[] = {"name", "weight", "all", "comment"};
    cx_status st = only_keys(ld, rule, c, keys, CX_ARRAY_LEN(keys));
    float weight = 1.0f;
    if (st != CX_OK || (st = read_weight(ld, rule, c, 1.0f, &weight)) != CX_OK)
        return st;
    const json_t *all = json_object_get(c, "all");
    if ((all != NULL || weight > 0.0f) && (!json_is_array(all) || json_array_size(all) == 0))
        return rule_err(ld, rule, "%s", "\"all\" must be a non-empty array of clauses");
    /* a later file's condition of the same name and category overrides */
    int replaced = 0;
    for (size_t k = 0; k < clf->n_conds; k++) {
        condition *old = &clf->conds[k];
        if (old->cat != cat || strcmp(old->evidence + 6, name) != 0) /* after "field:" */
            continue;
        if (old->doc == ld->doc)
            return rule_err(ld, rule, "%s", "another condition of this file has that name");
        replaced |= old->weight > 0.0f;
        old->weight = 0.0f;
    }
    if (weight == 0.0f && !replaced &&
        warn(clf,
             "%s: rule \"%s\": condition of weight 0, but no earlier file has a condition "
             "of that name for %s: it switches nothing off",
             ld->file, name, category_names[cat]) != CX_OK)
        return cx_errf(ld->err, ld->errlen, CX_ERR_NOMEM, "%s: out of memory", ld->file);
    if (all == NULL)
        return CX_OK;
    if (reserve((void **)&clf->conds, &clf->conds_cap, clf->n_conds, sizeof(condition)))
        return cx_errf(ld->err, ld->errlen, CX_ERR_NOMEM, "%s: out of memory", ld->file);
    condition *cd = &clf->conds[clf->n_conds++];
    memset(cd, 0, sizeof *cd);
    cd->cat = cat;
    cd->doc = ld->doc;
    cd->weight = weight;
    cd->clauses = calloc(json_array_size(all), sizeof(clause));
    cd->evidence = keep_string(clf, "field:", name);
    if (cd->clauses == NULL || cd->evidence == NULL)
        return cx_errf(ld->err, ld->errlen, CX_ERR_NOMEM, "%s: out of memory", ld->file);
    size_t j;
    const json_t *cl;
    cx_status bad = CX_OK; /* a clause refused: the others are still looked at */
    json_array_foreach(all, j, cl)
    {
        char part[32];
        loader in_clause = *ld;
        snprintf(part, sizeof part, "all[%zu]", j);
        in_clause.part = part;
        st = load_clause(&in_clause, rule, cl, &cd->clauses[cd->n_clauses]);
        if (st != CX_ERR_CONFIG) /* out of memory too: what it holds is freed with the rest */
            cd->n_clauses++;
        if (worse(&bad, st))
            return bad;
    }
    return bad;
}

/* Loads a category's conditions; one refused (CX_ERR_CONFIG) leaves the
 * others to be looked at. */
static cx_status load_conditions(const loader *ld, const json_t *conds, cx_category cat)
{
    size_t i;
    const json_t *c;
    if (!json_is_array(conds))
        return rule_err(ld, "conditions", "%s", "must be an array");
    cx_status bad = CX_OK;
    json_array_foreach(conds, i, c)
    {
        if (worse(&bad, load_condition(ld, c, i, cat)))
            return bad;
    }
    return bad;
}

/* Loads the "sentiment" section; each part is looked at whatever the others' errors. */
static cx_status load_sentiment(const loader *ld, const json_t *s)
{
    static const char *const keys[] = {"positive", "negative", "negators", "intensifiers",
                                       "clause_breaks"};
    cx_status st = only_keys(ld, "sentiment", s, keys, CX_ARRAY_LEN(keys));
    const json_t *g;
    if ((g = json_object_get(s, "positive")) &&
        worse(&st, load_groups(ld, g, "sentiment.positive", P_SENTIMENT, CX_CAT_COUNT, 1)))
        return st;
    if ((g = json_object_get(s, "negative")) &&
        worse(&st, load_groups(ld, g, "sentiment.negative", P_SENTIMENT, CX_CAT_COUNT, -1)))
        return st;
    if ((g = json_object_get(s, "negators")) &&
        worse(&st, load_words(ld, g, "sentiment.negators", CX_LEX_NEGATOR)))
        return st;
    if ((g = json_object_get(s, "clause_breaks")) &&
        worse(&st, load_words(ld, g, "sentiment.clause_breaks", CX_LEX_CLAUSE_BREAK)))
        return st;
    /* Intensifiers: words that multiply the next phrase's weight. */
    if ((g = json_object_get(s, "intensifiers")) &&
        worse(&st, load_words(ld, g, "sentiment.intensifiers", CX_LEX_INTENSIFIER)))
        return st;
    return st;
}

/* A copy of a rule document as its meaning goes: no "comment" members, and
 * every number a real (1 and 1.0 are one weight). */
static json_t *meaning(const json_t *j)
{
    json_t *out = NULL;
    if (json_is_object(j)) {
        const char *key;
        json_t *v;
        out = json_object();
        json_object_foreach((json_t *)j, key, v)
        {
            if (out != NULL && strcmp(key, "comment") != 0 &&
                json_object_set_new(out, key, meaning(v)) != 0) {
                json_decref(out);
                out = NULL;
            }
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        out = json_array();
        json_array_foreach(j, i, v)
        {
            if (out != NULL && json_array_append_new(out, meaning(v)) != 0) {
                json_decref(out);
                out = NULL;
            }
        }
    } else if (json_is_number(j)) {
        out = json_real(json_number_value(j));
    } else {
        out = json_deep_copy(j);
    }
    return out;
}

/* Folds a rule document into the rules' hash by what it says, not how it is
 * written: its members sorted, without white space or comments. */
static cx_status hash_rules(const json_t *root, uint64_t *hash)
{
    json_t *m = meaning(root);
    char *text =
        m ? json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17))
          : NULL;
    json_decref(m);
    if (text == NULL)
        return CX_ERR_NOMEM;
    *hash = cx_hash_bytes(*hash, text, strlen(text));
    free(text);
    return CX_OK;
}

static cx_status load_document(cx_classifier *clf, const char *file, const char *text,
                               size_t len, uint64_t *hash, char *declared, size_t declen,
                               char *err, size_t errlen)
{
    int errors = 0;
    loader ld = {clf, json_array_size(clf->documents), file, NULL, err, errlen, &errors};
    json_error_t jerr = {0}; /* jansson leaves its code unset when some allocations fail */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) { /* a byte order mark: passed over */
        text += 3;
        len -= 3;
    }
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    cx_status st = CX_OK;
    if (root == NULL && json_error_code(&jerr) == json_error_out_of_memory)
        return cx_errf(err, errlen, CX_ERR_NOMEM, "%s: out of memory", file);
    if (root == NULL) {
        /* UTF-16 opens with a byte order mark, or has a zero byte beside each ASCII one */
        int utf16 =
            len >= 2 && (memcmp(text, "\xFF\xFE", 2) == 0 || memcmp(text, "\xFE\xFF", 2) == 0 ||
                         memchr(text, '\0', len < 64 ? len : 64) != NULL);
        return cx_errf(err, errlen, CX_ERR_CONFIG, "%s:%d:%d: %s%s", file, jerr.line, jerr.column,
                       jerr.text,
                       utf16 ? " (a rule file is UTF-8: this one is UTF-16, as some Windows "
                               "editors save text)"
                       : strstr(jerr.text, "unable to decode byte") != NULL
                           ? " (a rule file is UTF-8: is this one saved as Latin-1?)"
                           : "");
    }
    if ((st = hash_rules(root, hash)) != CX_OK) {
        cx_errf(err, errlen, st, "%s: out of memory", file);
        goto done;
    }
    if (!json_is_object(root)) {
        st = cx_errf(err, errlen, CX_ERR_CONFIG, "%s: a rule file must be a JSON object", file);
        goto done;
    }
    const char *key;
    const json_t *v;
    json_object_foreach(root, key, v)
    {
        static const char *const keys[] = {"version",    "category",  "phrases",
                                           "conditions", "sentiment", "comment"};
        cx_typo t = CX_TYPO_INIT(key);
        for (size_t i = 0; i < CX_ARRAY_LEN(keys); i++)
            cx_typo_offer(&t, keys[i]);
        char hint[64];
        if (t.distance != 0)
            st = file_err(&ld, "unknown top-level key \"%s\"%s", key,
                          cx_typo_hint(&t, 1, hint, sizeof hint));
    }
    const json_t *vv = json_object_get(root, "version");
    if (vv != NULL) {
        const char *version = json_string_value(vv);
        size_t chars = version ? cx_utf8_length(version, strlen(version)) : 0;
        if (version == NULL || chars < 1 || chars > CX_CLASSIFIER_VERSION_MAX_CHARS)
            st = file_err(&ld, "\"version\" must be a string of 1..%d characters",
                          CX_CLASSIFIER_VERSION_MAX_CHARS);
        else /* the last file to declare one names the rules, as later files
                override; declen holds the longest (4 bytes a character) */
            snprintf(declared, declen, "%s", version);
    }
    const json_t *phrases = json_object_get(root, "phrases");
    const json_t *conds = json_object_get(root, "conditions");
    const json_t *catv = json_object_get(root, "category");
    if (phrases != NULL || conds != NULL || catv != NULL) {
        cx_category cat;
        if (!json_is_string(catv) || cx_category_from_name(json_string_value(catv), &cat))
            st = file_err(&ld, "%s", /* its phrases and conditions cannot be read */
                          "\"category\" must be one of facing, collaborative, external, "
                          "performance");
        else if ((phrases != NULL &&
                  worse(&st, load_groups(&ld, phrases, "phrases", P_CATEGORY, cat, 0))) ||
                 (conds != NULL && worse(&st, load_conditions(&ld, conds, cat))))
            goto done;
    }
    const json_t *sent = json_object_get(root, "sentiment");
    if (sent != NULL && !json_is_object(sent))
        st = file_err(&ld, "%s", "\"sentiment\" must be an object");
    else if (sent != NULL && worse(&st, load_sentiment(&ld, sent)))
        goto done;
    if (errors > 1) { /* each error is a line; the count closes them (if it fits whole) */
        int told = 1;
        for (const char *c = err; (c = strchr(c, '\n')) != NULL; c++)
            told++;
        char count[320];
        if (told < errors)
            snprintf(count, sizeof count, "\n%s: %d errors, the first %d told", file, errors, told);
        else
            snprintf(count, sizeof count, "\n%s: %d errors", file, errors);
        size_t at = strlen(err);
        if (at + strlen(count) < errlen)
            memcpy(err + at, count, strlen(count) + 1);
    }
    /* Kept as loaded, for cx_classifier_rules_json(). */
    if (st == CX_OK && json_array_append_new(clf->documents, json_pack("{s:s, s:O}", "file",
                                                                        file, "rules", root)))
        st = cx_errf(err, errlen, CX_ERR_NOMEM, "classifier: out of memory");
done:
    json_decref(root);
    return st;
}

/* Built-in rule files (generated from config/rules/ at build time). */
extern const struct cx_builtin_rule {
    const char *name;
    const char *text;
    size_t len;
} cx_builtin_rules[];
extern const size_t cx_builtin_rules_count;

/* Reads a rule file whole: a regular file, or a pipe (`--rules <(...)`). */
static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    enum { LIMIT = 64 * 1024 * 1024 };
    if (path[0] == '\0') {
        cx_errf(err, errlen, CX_ERR_CONFIG,
                "a rule file's name is empty: give a path, or default (the built-in rules)");
        return NULL;
    }
    FILE *f = cx_open_read(path);
    if (f == NULL) {
        cx_errf(err, errlen, CX_ERR_CONFIG, "%s: cannot open rule file: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            if (cap >= LIMIT) {
                cx_errf(err, errlen, CX_ERR_CONFIG, "%s: rule file is larger than 64 MB", path);
                break;
            }
            cap = cap ? cap * 2 : 65536;
            char *more = realloc(buf, cap + 1);
            if (more == NULL) {
                cx_errf(err, errlen, CX_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            buf = more;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (!ferror(f)) {
                fclose(f);
                *len = n;
                return buf;
            }
            cx_errf(err, errlen, CX_ERR_CONFIG, "%s: cannot read rule file: %s", path,
                    strerror(errno));
            break;
        }
    }
    free(buf);
    fclose(f);
    return NULL;
}

cx_status cx_classifier_new(cx_classifier **out, const char *const *files, size_t n_files,
                            char *err, size_t errlen)
{
    return cx_classifier_new_model(out, files, n_files, NULL, err, errlen);
}

cx_status cx_classifier_new_model(cx_classifier **out, const char *const *files, size_t n_files,
                                  const char *model, char *err, size_t errlen)
{
    cx_classifier *clf = calloc(1, sizeof *clf);
    uint64_t hash = CX_HASH_SEED;
    char declared[4 * CX_CLASSIFIER_VERSION_MAX_CHARS + 1] = "";
    cx_status st = CX_ERR_NOMEM;
    if (clf == NULL || cx__lex_new(&clf->lex) != CX_OK ||
        (clf->documents = json_array()) == NULL) {
        cx_errf(err, errlen, st, "classifier: out of memory");
        goto fail;
    }
    static const char *const builtin_only[] = {CX_CLASSIFIER_BUILTIN};
    if (n_files == 0) {
        files = builtin_only;
        n_files = 1;
    }
    int builtin = 0; /* the built-in rules are among the files */
    for (size_t i = 0; i < n_files; i++) {
        size_t first = 0;
        while (first < i && strcmp(files[first], files[i]) != 0)
            first++;
        if (first < i) {
            if (warn(clf,
                     "%s is named twice among the rule files: it is read once, where first "
                     "named",
                     files[i]) != CX_OK) {
                cx_errf(err, errlen, st = CX_ERR_NOMEM, "classifier: out of memory");
                goto fail;
            }
            continue;
        }
        if (strcmp(files[i], CX_CLASSIFIER_BUILTIN) == 0) {
            builtin = 1;
            for (size_t k = 0; k < cx_builtin_rules_count; k++)
                if ((st = load_document(clf, cx_builtin_rules[k].name, cx_builtin_rules[k].text,
                                        cx_builtin_rules[k].len, &hash, declared, sizeof declared,
                                        err, errlen)))
                    goto fail;
            continue;
        }
        size_t len;
        char *text = read_file(files[i], &len, err, errlen);
        if (text == NULL) {
            st = CX_ERR_CONFIG;
            goto fail;
        }
        st = load_document(clf, files[i], text, len, &hash, declared, sizeof declared, err,
                           errlen);
        free(text);
        if (st != CX_OK)
            goto fail;
    }
    if ((st = cx__valence_new(&clf->val, err, errlen)) != CX_OK)
        goto fail;
    /* no model named: the built-in one goes with the built-in rules */
    const char *load = model != NULL ? model : builtin ? CX_CLASSIFIER_BUILTIN : NULL;
    if (load != NULL && strcmp(load, "none") != 0 &&
        (st = cx__model_read(&clf->model, load, err, errlen)) != CX_OK)
        goto fail;
    /* the built-in model and the lexicons were made from English; a model of
     * your own from your events, in whatever languages they are */
    clf->english_only =
        model == NULL || strcmp(model, "none") == 0 || strcmp(model, CX_CLASSIFIER_BUILTIN) == 0;
    clf->rules_hash = hash;
    /* the rules' hits are among the model's features: with other rule files
     * they mean other things, and the model scores what it did not learn */
    char ours[17];
    snprintf(ours, sizeof ours, "%016llx", (unsigned long long)hash);
    const char *trained =
        clf->model != NULL && model != NULL && strcmp(model, CX_CLASSIFIER_BUILTIN) != 0
            ? cx__model_rules(clf->model)
            : NULL; /* the built-in one takes your terms as docs/model.md says */
    if (trained != NULL && strcmp(trained, ours) != 0 &&
        warn(clf,
             "the model %s was trained with other rule files than these (theirs hash to %s, "
             "these to %s): their hits are among its features, so name the rule files it was "
             "trained with (docs/model.md)",
             model, trained, ours) != CX_OK) {
        st = cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
        goto fail;
    }
    /* the features' meaning: a model trained by a cxpulse that made other
     * features of the same text reads these with weights meant for those */
    const char *made = clf->model != NULL ? cx__model_features(clf->model) : NULL;
    if (made != NULL) {
        char now[17];
        snprintf(now, sizeof now, "%016llx",
                 (unsigned long long)cx__features_fingerprint(clf->val));
        if (strcmp(made, now) != 0 &&
            warn(clf,
                 "the model %s was trained by a cxpulse that made other features of the same "
                 "text (their fingerprint is %s, this one's %s): its weights are read against "
                 "features they were not learned from, so retrain it with cxpulse train "
                 "(docs/model.md)",
                 model != NULL ? model : CX_CLASSIFIER_BUILTIN, made, now) != CX_OK) {
            st = cx_errf(err, errlen, CX_ERR_NOMEM, "out of memory");
            goto fail;
        }
    }
    snprintf(clf->version, sizeof clf->version, "%s+%016llx%s%s", declared[0] ? declared : "0",
             (unsigned long long)hash, clf->model ? "+" : "",
             clf->model ? cx__model_version(clf->model) : "");
    *out = clf;
    return CX_OK;
fail:
    cx_classifier_free(clf);
    return st;
}

size_t cx_classifier_warning_count(const cx_classifier *clf)
{
    return clf->n_warnings;
}

const char *cx_classifier_warning(const cx_classifier *clf, size_t i)
{
    return i < clf->n_warnings ? clf->warnings[i] : NULL;
}

uint64_t cx__classifier_rules_hash(const cx_classifier *clf)
{
    return clf->rules_hash;
}

const char *cx_classifier_version(const cx_classifier *clf)
{
    return clf->version;
}

char *cx_classifier_rules_json(const cx_classifier *clf)
{
    return json_dumps(clf->documents, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
}

void cx_classifier_free(cx_classifier *clf)
{
    if (clf == NULL)
        return;
    json_decref(clf->documents);
    cx__model_free(clf->model);
    cx__valence_free(clf->val);
    for (size_t i = 0; i < clf->n_conds; i++) {
        for (size_t j = 0; j < clf->conds[i].n_clauses; j++) {
            free(clf->conds[i].clauses[j].field);
            free(clf->conds[i].clauses[j].other);
            free(clf->conds[i].clauses[j].in);
            json_decref(clf->conds[i].clauses[j].value);
        }
        free(clf->conds[i].clauses);
    }
    for (size_t i = 0; i < clf->n_strings; i++)
        free(clf->strings[i]);
    free(clf->strings);
    free(clf->warnings);
    free(clf->conds);
    free(clf->payloads);
    free(clf->node_payload);
    cx__lex_free(clf->lex);
    free(clf);
}

/* ---- Field conditions --------------------------------------------------- */

/* True when strtod() could read a finite number from s: after blanks and a
 * sign it must start with a digit or '.' (anything else is no number, or
 * "inf"/"nan"), so most strings skip strtod(). */
static int may_be_number(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '+' || *s == '-')
        s++;
    return (*s >= '0' && *s <= '9') || *s == '.';
}

/* Most attributes an event's key signature is built from; an event with more
 * looks every attribute up. */
#define KEY_SIGNATURE_MAX 16

/* The key signature of ev's attributes: the key_bit() of each key ORed, so a
 * condition on an attribute the event does not have fails without a lookup. */
static uint64_t attribute_keys(const cx_event *ev)
{
    uint64_t sig = 0;
    const char *key;
    size_t n;
    const json_t *v;
    if (ev->attributes == NULL)
        return 0;
    if (json_object_size(ev->attributes) > KEY_SIGNATURE_MAX)
        return ~0ULL;
    json_object_keylen_foreach((json_t *)ev->attributes, key, n, v)
    {
        (void)v;
        sig |= key_bit(key, n);
    }
    return sig;
}

/* A present value from text, a number as well when it reads as one. */
static fval text_fval(const char *s)
{
    fval v = {.present = 1, .str = s, .text = 1};
    char *end;
    double d;
    if (may_be_number(s) && (d = strtod(s, &end), end != s && *end == '\0' && isfinite(d))) {
        v.is_num = 1;
        v.num = d;
    }
    return v;
}
/* bit: the attribute key's key_bit(); keys: the event's attribute_keys(). */
static fval field_value(const cx_event *ev, field_kind kind, const char *path, uint64_t bit,
                        uint64_t keys)
{
    fval v = {0};
    const char *s = NULL;
    switch (kind) {
    case F_CHANNEL:
        s = ev->channel;
        break;
    case F_TOUCHPOINT:
        s = ev->touchpoint;
        break;
    case F_LANGUAGE:
        s = ev->language;
        break;
    case F_CUSTOMER_ID:
        s = ev->customer_id;
        break;
    case F_RATING_SCALE:
        s = cx_rating_scale_name(ev->rating_scale);
        break;
    case F_RATING_VALUE:
        if (ev->rating_scale != CX_RATING_NONE) {
            v.present = v.is_num = 1;
            v.num = ev->rating_value;
        }
        return v;
    case F_ATTRIBUTE:
        if (ev->attributes != NULL && (keys & bit)) {
            const json_t *j = json_object_get(ev->attributes, path + 11);
            if (json_is_number(j)) {
                v.present = v.is_num = 1;
                v.num = json_number_value(j);
                return v;
            }
            if (json_is_true(j) || json_is_false(j)) {
                v.present = 1;
                v.str = json_is_true(j) ? "true" : "false";
                return v;
            }
            /* a non-empty object or list has a value: present, but neither text
             * nor a number to compare ("carrier": {"name": "DHL"}) */
            v.present = (json_is_object(j) && json_object_size(j) > 0) ||
                        (json_is_array(j) && json_array_size(j) > 0);
            if (v.present)
                return v;
            s = json_string_value(j);
        }
        break;
    }
    if (s != NULL && s[0] != '\0')
        v = text_fval(s);
    return v;
}

/* A rule's literal value: a string that reads as a number is one too, for an
 * event's number (a rule's "3" equals an event's 3); against an event's text
 * it stays text (ids and postcodes: "00501" is not "501"). */
static fval json_fval(const json_t *j)
{
    fval v = {0};
    if (json_is_number(j)) {
        v.present = v.is_num = 1;
        v.num = json_number_value(j);
    } else if (json_is_string(j)) {
        v = text_fval(json_string_value(j));
    }
    v.literal = 1;
    return v;
}

static int fval_equal(fval a, fval b)
{
    /* numbers numerically, but a rule's text against an event's text as text */
    if (a.is_num && b.is_num && !(a.text && b.text && (a.literal || b.literal)))
        return a.num == b.num;
    if (a.str == NULL || b.str == NULL)
        return 0;
    /* strcasecmp() folds ASCII letters (the C locale): most pairs differ at once */
    unsigned char x = (unsigned char)a.str[0], y = (unsigned char)b.str[0];
    if ((x >= 'A' && x <= 'Z' ? x | 0x20 : x) != (y >= 'A' && y <= 'Z' ? y | 0x20 : y))
        return 0;
    return strcasecmp(a.str, b.str) == 0;
}

/* Whether clause c holds for ev. A field it had to compare and could not read
 * is noted in tags (cx_tags.unreadable): the clause does not hold. */
static int clause_holds(const cx_event *ev, const clause *c, uint64_t keys, cx_tags *tags)
{
    fval a = field_value(ev, c->field_kind, c->field, c->field_bit, keys);
    if (!a.present) /* every operator but "absent" needs the field */
        return c->op == OP_ABSENT;
    fval b = c->other ? field_value(ev, c->other_kind, c->other, c->other_bit, keys)
                      : json_fval(c->value);
    /* an object or a list holds neither text nor a number to compare */
    int opaque_a = a.str == NULL && !a.is_num, opaque_b = b.present && b.str == NULL && !b.is_num;
    if ((c->op == OP_EQ || c->op == OP_NE || c->op == OP_IN) && (opaque_a || opaque_b)) {
        tags->unreadable = opaque_a ? c->field : c->other;
        tags->unreadable_needs = "text or a number";
        return 0;
    }
    switch (c->op) {
    case OP_PRESENT:
        return a.present;
    case OP_ABSENT:
        return !a.present;
    case OP_EQ:
        return a.present && b.present && fval_equal(a, b);
    case OP_NE:
        return a.present && b.present && !fval_equal(a, b);
    case OP_IN:
        for (size_t i = 0; i < c->n_in; i++)
            if (fval_equal(a, c->in[i]))
                return 1;
        return 0;
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE:
        /* a literal value was checked to be a number when the rule was loaded */
        if (!a.is_num || (b.present && !b.is_num)) {
            tags->unreadable = !a.is_num ? c->field : c->other;
            tags->unreadable_needs = "a number";
            return 0;
        }
        return b.present && (c->op == OP_LT   ? a.num < b.num
                             : c->op == OP_LE ? a.num <= b.num
                             : c->op == OP_GT ? a.num > b.num
                                              : a.num >= b.num);
    case OP_BEFORE:
    case OP_AFTER: {
        /* a bare date against a date-time: by calendar day (see cx_time_days_between) */
        double days = 0;
        int bad = 0;
        int64_t ta;
        if (b.present)
            cx_time_days_between(a.str ? a.str : "", b.str ? b.str : "", &days, &bad);
        else if (cx_time_parse_date(a.str ? a.str : "", &ta) != CX_OK)
            bad = 1;
        if (bad) {
            tags->unreadable = bad == 1 ? c->field : c->other;
            tags->unreadable_needs = "a date (YYYY-MM-DD or RFC 3339)";
            return 0;
        }
        return b.present && (c->op == OP_BEFORE ? days > 0 : days < 0);
    }
    }
    return 0;
}

/* ---- Classification ---------------------------------------------------- */

static void add_evidence(cx_tags *tags, cx_category cat, const char *ev)
{
    int n = tags->n_evidence[cat];
    for (int i = 0; i < n; i++)
        if (tags->evidence[cat][i] == ev)
            return;
    if (n < CX_EVIDENCE_MAX)
        tags->evidence[cat][tags->n_evidence[cat]++] = ev;
}

/* Maps a rating onto [-1, 1] by its scale (CES: high effort is bad). */
static float rating_score(const cx_event *ev)
{
    /* within the band the sentiment is read from, so that the signs agree
     * for fractional ratings too (NPS 6.3 is a detractor, stars 2.7 neutral) */
    cx_sentiment band = cx__rating_sentiment(ev);
    double v = ev->rating_value;
    if (band == CX_SENT_NEUTRAL || band == CX_SENT_COUNT)
        return 0.0f;
    switch (ev->rating_scale) {
    case CX_RATING_CSAT:
    case CX_RATING_STARS:
        return (float)((v - 3.0) / 2.0);
    case CX_RATING_NPS:
        return band == CX_SENT_NEGATIVE
                   ? (float)(-1.0 + fmin(v, 6.0) / 6.0 * 0.7)   /* detractor: -1 .. -0.3 */
                   : (float)(0.6 + (fmax(v, 9.0) - 9.0) * 0.4); /* promoter: 0.6 .. 1 */
    case CX_RATING_CES:
        return (float)((4.0 - v) / 3.0);
    case CX_RATING_NONE:
        break;
    }
    return 0.0f;
}

const cx_valence *cx__classifier_valence(const cx_classifier *clf)
{
    return clf->val;
}

const cx_model *cx__classifier_model(const cx_classifier *clf)
{
    return clf->model;
}

static void add_hit(cx_rule_hits *hits, const char *ev)
{
    for (int i = 0; i < hits->n_hit; i++)
        if (hits->hit[i] == ev)
            return;
    if (hits->n_hit < CX_HITS_MAX)
        hits->hit[hits->n_hit++] = ev;
}

const cx_lexicon *cx__classifier_lexicon(const cx_classifier *clf)
{
    return clf->lex;
}

void cx__classifier_rules(const cx_classifier *clf, const cx_event *ev, const cx_lex_words *words,
                          cx_tags *tags, cx_rule_hits *hits)
{
    int32_t seen[2][MAX_SEEN];            /* phrases counted as said, and negated */
    size_t n_seen[2] = {0, 0};
    float sent = 0.0f;

    memset(tags, 0, sizeof *tags);
    memset(hits, 0, sizeof *hits);
    if (words == NULL) {
        cx_lex_words *scanned = cx__scratch(CX_SCRATCH_RULES, sizeof *scanned); /* ~80 KB */
        scanned->n = 0;
        if (ev->text)
            cx__lex_words(clf->lex, ev->text, ev->text_len, scanned);
        words = scanned;
    }
    const int32_t *ids = words->id;
    size_t n = words->n;

    int last_negator = -100; /* token index of the last negator in this clause */
    unsigned prev_flags = 0;     /* flags of token i - 1 */
    for (size_t i = 0; i < n; i++) {
        unsigned fl = words->flags[i], before = prev_flags;
        prev_flags = fl;
        if (ids[i] == CX_LEX_BREAK || (fl & CX_LEX_CLAUSE_BREAK)) {
            last_negator = -100;
            continue;
        }
        if (fl & CX_LEX_NEGATOR)
            last_negator = (int)i;
        int negated = (int)i - last_negator <= NEGATION_WINDOW && (int)i != last_negator;
        float boost = i > 0 && (before & CX_LEX_INTENSIFIER) ? 1.5f : 1.0f;
        /* Longest match first would hide nested phrases: take every phrase ending
         * along the path from i ("charged twice" and "charged"). */
        if (ids[i] < 0)
            continue; /* a word in no phrase starts none */
        int32_t node = 0;
        for (size_t j = i; j < n && j < i + CX_LEX_MAX_PHRASE_WORDS; j++) {
            node = cx__lex_step(clf->lex, node, ids[j]);
            if (node < 0)
                break;
            if ((size_t)node >= clf->node_payload_cap || clf->node_payload[node] < 0)
                continue;
            /* each distinct phrase counts once as said and once negated: "not
             * late at first, then late" is a complaint */
            size_t k, *ns = &n_seen[negated];
            for (k = 0; k < *ns && seen[negated][k] != node; k++)
                ;
            if (k < *ns || *ns == MAX_SEEN)
                continue;
            seen[negated][(*ns)++] = node;
            for (int32_t p = clf->node_payload[node]; p >= 0; p = clf->payloads[p].next) {
                const payload *pl = &clf->payloads[p];
                if (pl->weight == 0.0f)
                    continue; /* switched off */
                float w = pl->weight * boost;
                if (pl->kind == P_CATEGORY) {
                    if (!(negated && pl->polarity < 0)) {
                        hits->phrase[pl->cat] += pl->weight;
                        hits->by_polarity[pl->cat][pl->polarity + 1] += pl->weight;
                        add_evidence(tags, pl->cat, pl->evidence);
                        add_hit(hits, pl->evidence);
                    }
                    if (pl->polarity != 0)
                        sent += (negated ? -0.5f : 1.0f) * (float)pl->polarity * 0.7f * w;
                } else
                    sent += (negated ? -0.5f : 1.0f) * (float)pl->polarity * w;
            }
        }
    }

    uint64_t keys = attribute_keys(ev);
    for (size_t c = 0; c < clf->n_conds; c++) {
        const condition *cd = &clf->conds[c];
        if (cd->weight == 0.0f)
            continue; /* switched off */
        size_t k;
        for (k = 0; k < cd->n_clauses && clause_holds(ev, &cd->clauses[k], keys, tags); k++)
            ;
        if (k == cd->n_clauses) {
            hits->field[cd->cat] += cd->weight;
            add_evidence(tags, cd->cat, cd->evidence);
            add_hit(hits, cd->evidence);
        }
    }
    for (int c = 0; c < CX_CAT_COUNT; c++) {
        float sum = hits->phrase[c] + hits->field[c]; /* 0 (no hit) gives 0 */
        tags->confidence[c] = sum != 0.0f ? 1.0f - expf(-sum) : 0.0f;
    }
    hits->sentiment = sent;
}

float cx__field_confidence(const cx_rule_hits *hits, int c)
{
    return hits->field[c] != 0.0f ? 1.0f - expf(-hits->field[c]) : 0.0f;
}

cx_sentiment cx__model_sentiment(cx_sentiment rated, const float score[3])
{
    if (rated != CX_SENT_COUNT)
        return rated;
    return score[0] >= score[1] && score[0] >= score[2] ? CX_SENT_NEGATIVE
           : score[2] > score[1]                        ? CX_SENT_POSITIVE
                                                        : CX_SENT_NEUTRAL;
}

cx_sentiment cx__rating_sentiment(const cx_event *ev)
{
    double v = ev->rating_value;
    switch (ev->rating_scale) {
    case CX_RATING_CSAT:
    case CX_RATING_STARS:
        return v < 2.5 ? CX_SENT_NEGATIVE : v < 3.5 ? CX_SENT_NEUTRAL : CX_SENT_POSITIVE;
    case CX_RATING_NPS:
        return v < 6.5 ? CX_SENT_NEGATIVE : v < 8.5 ? CX_SENT_NEUTRAL : CX_SENT_POSITIVE;
    case CX_RATING_CES:
        return v > 4.5 ? CX_SENT_NEGATIVE : v > 3.5 ? CX_SENT_NEUTRAL : CX_SENT_POSITIVE;
    case CX_RATING_NONE:
        break;
    }
    return CX_SENT_COUNT;
}

/* Whether the event's text says nothing (none, empty, or spaces only). */
static int says_nothing(const cx_event *ev)
{
    for (size_t i = 0; ev->text != NULL && i < ev->text_len; i++)
        if (!cx__ascii_space((unsigned char)ev->text[i]))
            return 0;
    return 1;
}

/* Whether the event's text holds characters, all of them ASCII digits, signs
 * or spaces ("+1", "10/10", "<3", ":(", "5*"): not one word. */
static int signs_only(const cx_event *ev)
{
    int any = 0;
    for (size_t i = 0; ev->text != NULL && i < ev->text_len; i++) {
        unsigned char c = (unsigned char)ev->text[i];
        if (c >= 0x80 || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
            return 0;
        any |= !cx__ascii_space(c);
    }
    return any;
}

/* ev as if it had no text, in *view. */
static const cx_event *without_text(const cx_event *ev, cx_event *view)
{
    *view = *ev;
    view->text = NULL;
    view->text_len = 0;
    return view;
}

/* The feeling the lexicons and the rules' cues (rule_sentiment) read in
 * text[len], as the rules alone classify; its score in *score. */
static cx_sentiment lexicon_feeling(const cx_classifier *clf, const char *text, size_t len,
                                    float rule_sentiment, float *score)
{
    cx_valence_score vs;
    cx__valence_score(clf->val, text, len, &vs);
    float text_score = rule_sentiment / (fabsf(rule_sentiment) + 1.5f);
    *score = 0.5f * (vs.compound + text_score);
    return cx__valence_sentiment(&vs, text_score);
}

void cx_classifier_classify(const cx_classifier *clf, const cx_event *ev, cx_tags *tags)
{
    cx_rule_hits hits;
    cx_event view, turns_view; /* the customer's words, and turns (text.h) */
    ev = cx__text_view(ev, &view);
    const cx_event *turns = cx__text_customer_view(ev, &turns_view);
    cx_sentiment rated = cx__rating_sentiment(ev);
    float rscore = rating_score(ev);
    const char *other = clf->english_only ? cx__text_language(ev) : NULL;
    cx_event textless;
    if (other != NULL && clf->model != NULL) /* read as if it had no text */
        ev = without_text(ev, &textless);
    if (other != NULL)
        turns = NULL;
    /* Digits and signs alone hold no word the model learned from, and its
     * lean (most of what it learned from are complaints) would speak: "+1"
     * and "<3" were negative, tagged performance. The model reads the event
     * without them, the lexicons read them (emoticons). */
    int signs = clf->model != NULL && other == NULL && turns == NULL && signs_only(ev);

    if (clf->model != NULL) {
        cx_model_out mo; /* (the model runs the rules too) */
        cx__model_score(clf, signs ? without_text(ev, &textless) : ev, tags, &hits, &mo);
        for (int c = 0; c < CX_CAT_COUNT; c++) {
            /* calibrated so that the model's threshold maps to CX_CLASSIFY_THRESHOLD */
            float conf =
                1.0f / (1.0f + expf(-(mo.z[c] - cx__model_threshold_logit(clf->model, c))));
            float field = cx__field_confidence(&hits, c);
            if (field >= CX_CLASSIFY_THRESHOLD && field > conf)
                conf = field; /* field rules are certain */
            tags->confidence[c] = conf;
            if (conf >= CX_CLASSIFY_THRESHOLD) {
                for (int k = 0; k < mo.n_top[c]; k++) {
                    const char *name = cx__model_top_name(clf->model, &mo, c, k);
                    if (name != NULL)
                        add_evidence(tags, (cx_category)c, name);
                }
                /* every tag keeps evidence: when no readable feature stood out,
                 * the character n-grams of the words carried it */
                if (tags->n_evidence[c] == 0)
                    add_evidence(tags, (cx_category)c, "model:character n-grams");
            }
        }
        if (turns != NULL) { /* the feeling is the customer's: from their turns */
            cx_tags turn_tags;
            cx_rule_hits turn_hits;
            cx_model_out turn_mo;
            cx__model_score(clf, turns, &turn_tags, &turn_hits, &turn_mo);
            memcpy(mo.z + CX_CAT_COUNT, turn_mo.z + CX_CAT_COUNT, 3 * sizeof mo.z[0]);
        }
        float mx = fmaxf(mo.z[4], fmaxf(mo.z[5], mo.z[6])), p[3], sum = 0;
        for (int k = 0; k < 3; k++)
            sum += p[k] = expf(mo.z[4 + k] - mx);
        tags->sentiment = cx__model_sentiment(rated, p);
        tags->sentiment_score = rated != CX_SENT_COUNT ? rscore : (p[2] - p[0]) / sum;
        if (signs && rated == CX_SENT_COUNT) { /* as the rules alone read it */
            cx_tags sign_tags;
            cx_rule_hits sign_hits;
            cx__classifier_rules(clf, ev, NULL, &sign_tags, &sign_hits);
            tags->sentiment = lexicon_feeling(clf, ev->text, ev->text_len, sign_hits.sentiment,
                                              &tags->sentiment_score);
        }
    } else {
        cx__classifier_rules(clf, ev, NULL, tags, &hits);
        float rule_sentiment = hits.sentiment;
        if (turns != NULL) { /* the feeling is the customer's: from their turns */
            cx_tags turn_tags;
            cx_rule_hits turn_hits;
            cx__classifier_rules(clf, turns, NULL, &turn_tags, &turn_hits);
            rule_sentiment = turn_hits.sentiment;
        }
        const cx_event *felt = turns != NULL ? turns : ev;
        float score; /* the lexicons read English only */
        cx_sentiment s =
            lexicon_feeling(clf, other ? NULL : felt->text,
                            other || !felt->text ? 0 : felt->text_len, rule_sentiment, &score);
        tags->sentiment = rated != CX_SENT_COUNT ? rated : s;
        tags->sentiment_score = rated != CX_SENT_COUNT ? rscore : score;
    }
    tags->language_not_read = other;
    tags->sentiment_from = rated != CX_SENT_COUNT ? "rating"
                           : turns != NULL        ? "customer turns"
                                                  : "text";
    if (rated == CX_SENT_COUNT && says_nothing(turns != NULL ? turns : ev)) {
        /* no feeling is told (the model's bias alone would speak, and most of
         * what it learned from are complaints) */
        tags->sentiment = CX_SENT_NEUTRAL;
        tags->sentiment_score = 0.0f;
        tags->sentiment_from = "none";
    }

    /* Order (insertion sort of at most four). */
    for (int c = 0; c < CX_CAT_COUNT; c++) {
        if (tags->confidence[c] < CX_CLASSIFY_THRESHOLD)
            continue;
        int k = tags->n_assigned++;
        while (k > 0 && tags->confidence[tags->order[k - 1]] < tags->confidence[c]) {
            tags->order[k] = tags->order[k - 1];
            k--;
        }
        tags->order[k] = (cx_category)c;
    }
}
