/*
 * model.c - the model file and scoring with it (see model.h).
 *
 * File format (little-endian), everything checked on load:
 *   "CXMODEL\0", u32 format (2), u32 hash bits, u32 outputs (7),
 *   f32 thresholds[4], f32 scales[7],
 *   u32 entries, u32 names,
 *   entries x (u32 bucket, i16 weights[7])    weight = value * scale
 *   names x (u32 bucket, u8 length, bytes)    readable features, for evidence;
 *                                             bucket RULES_BUCKET (past every
 *                                             bucket: never evidence) holds
 *                                             "rules:" and the 16 hex digits of
 *                                             the rule files' hash, and
 *                                             "features:" and the 16 hex
 *                                             digits of the extractor's
 *                                             fingerprint
 *   u64 FNV-1a checksum of every byte before it.
 * Only buckets with a weight are stored, so the file stays small.
 */
#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "CXMODEL"
#define RULES_BUCKET 0xFFFFFFFFu
#define FORMAT 2
#define HEADER (8 + 4 * 3 + 4 * CX_CAT_COUNT + 4 * CX_MODEL_OUT + 4 * 2)
#define ENTRY (4 + 2 * CX_MODEL_OUT)

/* Buckets per block of the names' index. */
#define NAME_BLOCK_BITS 8

typedef struct name_entry {
    uint32_t bucket;
    uint32_t print;   /* name_print() of <name> */
    const char *text; /* "model:<name>" */
} name_entry;

/* A print of a feature's name: its length and its first, middle and last
 * bytes (0 for no name; a few loads, as it is taken for every readable
 * feature of every event). Two features whose hashes share a bucket almost
 * never share it, so an event's feature is shown by the name its bucket keeps
 * only when the prints agree: evidence does not name a word the event lacks. */
static inline uint32_t name_print(const char *s, size_t n)
{
    if (s == NULL || n == 0)
        return 0;
    const unsigned char *u = (const unsigned char *)s;
    return (uint32_t)(n & 0xff) << 24 | (uint32_t)u[0] << 16 | (uint32_t)u[n / 2] << 8 | u[n - 1];
}

struct cx_model {
    /* CX_MODEL_BUCKETS x CX_MODEL_STRIDE, as the file stores them: weight =
     * w * scale[output]; sums are taken in these units and scaled once */
    int16_t *w;
    float scale[CX_MODEL_STRIDE];
    uint8_t *used; /* bit per bucket: has a weight */
    uint64_t gen;  /* distinct per loaded model: tags the word cache */
    float logit[CX_CAT_COUNT]; /* of the thresholds t: log(t / (1 - t)) */
    name_entry *names;         /* sorted by bucket */
    size_t n_names;
    /* names[first[b >> NAME_BLOCK_BITS] .. first[(b >> NAME_BLOCK_BITS) + 1]) are the
     * names of the buckets whose number starts like b's */
    uint32_t first[(CX_MODEL_BUCKETS >> NAME_BLOCK_BITS) + 1];
    char *strings;
    char version[32];
    char rules[17];    /* the rule files' hash it was trained with, or "" */
    char features[17]; /* the extractor's fingerprint it was trained with, or "" */
};

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float getf(const unsigned char *p)
{
    uint32_t u = get32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint64_t cx__model_checksum(const unsigned char *p, size_t n)
{
    return cx_hash_bytes(CX_HASH_SEED, p, n);
}

static int by_bucket(const void *a, const void *b)
{
    uint32_t x = ((const name_entry *)a)->bucket, y = ((const name_entry *)b)->bucket;
    return x < y ? -1 : x > y;
}

/* When the name entry at p (u32 bucket, u8 length, bytes) is kind and 16
 * hex digits under RULES_BUCKET, copies the digits into out. */
static void hash_name(const unsigned char *p, const char *kind, char out[17])
{
    size_t k = strlen(kind);
    if (get32(p) == RULES_BUCKET && p[4] == k + 16 && memcmp(p + 5, kind, k) == 0) {
        memcpy(out, p + 5 + k, 16);
        out[16] = '\0';
    }
}

cx_status cx__model_load(cx_model **out, const unsigned char *d, size_t len, const char *origin,
                         char *err, size_t errlen)
{
    if (len < HEADER + 8 || memcmp(d, MAGIC, 8) != 0)
        return cx_errf(err, errlen, CX_ERR_CONFIG, "%s: not a cxpulse model file", origin);
    uint32_t format = get32(d + 8), bits = get32(d + 12), n_out = get32(d + 16);
    if (format != FORMAT)
        return cx_errf(err, errlen, CX_ERR_CONFIG,
                       "%s: model format %u, this cxpulse reads format %d (retrain it with "
                       "cxpulse train)",
                       origin, format, FORMAT);
    if (bits != CX_MODEL_BITS || n_out != CX_MODEL_OUT)
        return cx_errf(err, errlen, CX_ERR_CONFIG,
                       "%s: model has %u hash bits and %u outputs, this cxpulse reads %d and "
                       "%d (retrain it with cxpulse train)",
                       origin, bits, n_out, CX_MODEL_BITS, CX_MODEL_OUT);
    uint64_t want = 0;
    for (int i = 0; i < 8; i++)
        want |= (uint64_t)d[len - 8 + (size_t)i] << (8 * i);
    if (cx__model_checksum(d, len - 8) != want)
        return cx_errf(err, errlen, CX_ERR_CONFIG,
                       "%s: model checksum mismatch: the file is damaged or truncated", origin);
    const unsigned char *p = d + 20;
    cx_model *m = calloc(1, sizeof *m);
    if (m == NULL ||
        (m->w = calloc((size_t)CX_MODEL_BUCKETS * CX_MODEL_STRIDE, sizeof *m->w)) == NULL ||
        (m->used = calloc(CX_MODEL_BUCKETS / 8, 1)) == NULL) {
        cx__model_free(m);
        return cx_errf(err, errlen, CX_ERR_NOMEM, "%s: out of memory", origin);
    }
    for (int c = 0; c < CX_CAT_COUNT; c++, p += 4) {
        float t = getf(p);
        if (!(t > 0.0f && t < 1.0f)) {
            cx__model_free(m);
            return cx_errf(err, errlen, CX_ERR_CONFIG, "%s: model threshold out of (0, 1)", origin);
        }
        m->logit[c] = logf(t / (1.0f - t));
    }
    for (int k = 0; k < CX_MODEL_OUT; k++, p += 4) {
        /* At most 1: a weight of 32767 is far beyond any trained one (the
         * writer's scale is the largest weight / 32767), and a larger scale
         * can make an event's sums infinite and its sentiment not a number. */
        m->scale[k] = getf(p);
        if (!(m->scale[k] > 0.0f && m->scale[k] <= 1.0f)) {
            cx__model_free(m);
            return cx_errf(err, errlen, CX_ERR_CONFIG, "%s: model scale not a number in (0, 1]",
                           origin);
        }
    }
    uint32_t n_entries = get32(p), n_names = get32(p + 4);
    p += 8;
    const unsigned char *end = d + len - 8;
    if ((size_t)(end - p) < (size_t)n_entries * ENTRY)
        goto bad;
    for (uint32_t i = 0; i < n_entries; i++, p += ENTRY) {
        uint32_t b = get32(p);
        if (b >= CX_MODEL_BUCKETS)
            goto bad;
        for (int k = 0; k < CX_MODEL_OUT; k++)
            m->w[(size_t)b * CX_MODEL_STRIDE + (size_t)k] =
                (int16_t)(uint16_t)(p[4 + 2 * k] | p[5 + 2 * k] << 8);
        m->used[b >> 3] |= (uint8_t)(1u << (b & 7));
    }
    size_t total = 0;
    const unsigned char *q = p;
    for (uint32_t i = 0; i < n_names; i++) {
        if (end - q < 5 || (size_t)(end - q - 5) < q[4])
            goto bad;
        /* names become evidence, stored and printed as text: UTF-8, no controls */
        for (const unsigned char *c = q + 5, *ce = c + q[4]; c < ce;) {
            size_t k = *c < 0x20 ? 0 : *c < 0x80 ? 1 : cx_utf8_sequence(c, ce);
            if (k == 0) {
                cx__model_free(m);
                return cx_errf(err, errlen, CX_ERR_CONFIG,
                               "%s: model file is malformed (feature name %u is not UTF-8 text)",
                               origin, (unsigned)i);
            }
            c += k;
        }
        total += (size_t)q[4] + 7;
        q += 5 + q[4];
    }
    if (q != end)
        goto bad;
    m->names = calloc(n_names ? n_names : 1, sizeof *m->names);
    m->strings = malloc(total + 1);
    if (m->names == NULL || m->strings == NULL) {
        cx__model_free(m);
        return cx_errf(err, errlen, CX_ERR_NOMEM, "%s: out of memory", origin);
    }
    char *s = m->strings;
    for (uint32_t i = 0; i < n_names; i++) {
        size_t n = p[4];
        hash_name(p, "rules:", m->rules);
        hash_name(p, "features:", m->features);
        m->names[i].bucket = get32(p);
        m->names[i].text = s;
        m->names[i].print = name_print((const char *)p + 5, n);
        memcpy(s, "model:", 6);
        memcpy(s + 6, p + 5, n);
        s[6 + n] = '\0';
        s += n + 7;
        p += 5 + n;
    }
    m->n_names = n_names;
    qsort(m->names, m->n_names, sizeof *m->names, by_bucket);
    for (size_t i = 0, blk = 0; blk <= CX_MODEL_BUCKETS >> NAME_BLOCK_BITS; blk++) {
        while (i < m->n_names && m->names[i].bucket >> NAME_BLOCK_BITS < blk)
            i++;
        m->first[blk] = (uint32_t)i;
    }
    static atomic_uint_fast64_t generation;
    m->gen = (uint64_t)atomic_fetch_add(&generation, 1) + 1;
    snprintf(m->version, sizeof m->version, "cxm%d-%012llx", FORMAT,
             (unsigned long long)(want & 0xffffffffffffULL));
    *out = m;
    return CX_OK;
bad:
    cx__model_free(m);
    return cx_errf(err, errlen, CX_ERR_CONFIG, "%s: model file is malformed (bad sizes)", origin);
}

/* The built-in default model (embed_data.c); empty when none was built. */
extern const unsigned char cx_blob_model[];
extern const size_t cx_blob_model_len;

cx_status cx__model_read(cx_model **out, const char *path, char *err, size_t errlen)
{
    if (strcmp(path, CX_CLASSIFIER_BUILTIN) == 0) { /* --model default, as --rules default */
        *out = NULL; /* none built: the rules alone, as with nothing configured */
        return cx_blob_model_len > 0 ? cx__model_load(out, cx_blob_model, cx_blob_model_len,
                                                      "config/model/default.cxm", err, errlen)
                                     : CX_OK;
    }
    if (path[0] == '\0')
        return cx_errf(err, errlen, CX_ERR_CONFIG,
                       "the model file's name is empty: give a path, default (the built-in "
                       "model) or none (the rules alone)");
    FILE *f = cx_open_read(path);
    if (f == NULL)
        return cx_errf(err, errlen, CX_ERR_CONFIG, "%s: cannot open model file: %s", path,
                       strerror(errno));
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            unsigned char *nb = cap <= (size_t)256 << 20 ? realloc(buf, cap) : NULL;
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return cap <= (size_t)256 << 20
                           ? cx_errf(err, errlen, CX_ERR_NOMEM, "%s: out of memory", path)
                           : cx_errf(err, errlen, CX_ERR_CONFIG, "%s: model file too large", path);
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    int bad = ferror(f), why = errno;
    fclose(f);
    cx_status st = bad ? cx_errf(err, errlen, CX_ERR_CONFIG, "%s: cannot read model file: %s", path,
                                 strerror(why))
                       : cx__model_load(out, buf, len, path, err, errlen);
    free(buf);
    return st;
}

void cx__model_free(cx_model *m)
{
    if (m == NULL)
        return;
    free(m->w);
    free(m->used);
    free(m->names);
    free(m->strings);
    free(m);
}

const char *cx__model_version(const cx_model *m)
{
    return m->version;
}

const char *cx__model_rules(const cx_model *m)
{
    return m->rules[0] ? m->rules : NULL;
}

const char *cx__model_features(const cx_model *m)
{
    return m->features[0] ? m->features : NULL;
}

void cx__model_weights(const cx_model *m, float *w)
{
    for (size_t i = 0; i < (size_t)CX_MODEL_BUCKETS * CX_MODEL_STRIDE; i++)
        w[i] = (float)m->w[i] * m->scale[i % CX_MODEL_STRIDE];
}

float cx__model_threshold_logit(const cx_model *m, int cat)
{
    return m->logit[cat];
}

static const name_entry *find_name(const cx_model *m, uint32_t bucket)
{
    if (bucket >= CX_MODEL_BUCKETS)
        return NULL;
    size_t blk = bucket >> NAME_BLOCK_BITS, lo = m->first[blk], hi = m->first[blk + 1];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->names[mid].bucket < bucket)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->n_names && m->names[lo].bucket == bucket ? &m->names[lo] : NULL;
}

const char *cx__model_name(const cx_model *m, uint32_t bucket)
{
    const name_entry *e = find_name(m, bucket);
    return e != NULL ? e->text : NULL;
}

const char *cx__model_top_name(const cx_model *m, const cx_model_out *out, int cat, int k)
{
    const name_entry *e = find_name(m, out->top[cat][k]);
    return e != NULL && e->print == out->print[cat][k] ? e->text : NULL;
}

/* ---- Scoring -------------------------------------------------------------- */

typedef struct top {
    uint32_t bucket;
    float contrib;
    uint32_t print; /* of the event's feature */
} top;

/* Features wait this many calls between their prefetch and their use. */
#define LAG 8

typedef struct pending {
    uint32_t bucket;
    float value;
    uint32_t print; /* of its name; 0: not readable */
    uint8_t group;
} pending;

typedef struct score_ctx {
    const cx_model *m;
    struct word_cache *cache; /* the thread's, see chars_fn() */
    float acc[CX_FG_COUNT][CX_MODEL_STRIDE];
    top best[CX_CAT_COUNT][CX_MODEL_TOP];
    pending q[LAG];
    unsigned n_q;
} score_ctx;

/* Adds one feature to the sums and the strongest named ones (inlined: it runs
 * once per feature). */
static inline __attribute__((always_inline)) void apply(score_ctx *s, const pending *p)
{
    const int16_t *w = s->m->w + (size_t)p->bucket * CX_MODEL_STRIDE;
    float *a = s->acc[p->group];
    float wv[CX_MODEL_STRIDE], av[CX_MODEL_STRIDE];
    for (int k = 0; k < CX_MODEL_STRIDE; k++)
        wv[k] = (float)w[k];
    memcpy(av, a, sizeof av);
    for (int k = 0; k < CX_MODEL_STRIDE; k++)
        av[k] += wv[k] * p->value;
    memcpy(a, av, sizeof av);
    if (p->print == 0)
        return;
    for (int c = 0; c < CX_CAT_COUNT; c++) {
        float x = wv[c] * p->value; /* unscaled: the scale is the same for all of c */
        top *b = s->best[c];
        if (x <= b[CX_MODEL_TOP - 1].contrib)
            continue;
        int k = CX_MODEL_TOP - 1;
        for (; k > 0 && b[k - 1].contrib < x; k--)
            b[k] = b[k - 1];
        b[k] = (top){p->bucket, x, p->print};
    }
}

/* A feature name that explains nothing to a reader, which evidence passes
 * over for the next one: a number or a word starting with one ("0", "00",
 * "0pm", digits being folded to 0) or a function word ("me", "at", "for").
 * Its weight counts all the same. Short names only are looked at (the
 * longest such word has 4 letters): it runs for every readable feature. */
static inline int says_nothing(const char *name, size_t n)
{
    /* by length, so that a name is compared with its own length's only */
    static const char *const words[5] = {"", "a i ", "an me my at of to in on or is it we be ",
                                         "the for and was you our are ", "your this that with "};
    if (name == NULL || n == 0)
        return 0;
    if (name[0] >= '0' && name[0] <= '9')
        return 1;
    if (n > 4)
        return 0;
    for (const char *w = words[n]; *w != '\0'; w += n + 1)
        if (memcmp(w, name, n) == 0)
            return 1;
    return 0;
}

/* Weights are read LAG features after their prefetch, so memory latency overlaps. */
static void score_fn(void *ctx, uint32_t bucket, cx_feature_group g, float value, const char *name,
                     size_t name_len)
{
    score_ctx *s = ctx;
    if (!(s->m->used[bucket >> 3] & (1u << (bucket & 7))))
        return; /* no weight: nothing to add */
    __builtin_prefetch(s->m->w + (size_t)bucket * CX_MODEL_STRIDE);
    pending *slot = &s->q[s->n_q % LAG];
    if (s->n_q >= LAG)
        apply(s, slot);
    uint32_t print = says_nothing(name, name_len) ? 0 : name_print(name, name_len);
    *slot = (pending){bucket, value, print, (uint8_t)g};
    s->n_q++;
}

/* Per thread (cx__scratch()): recent words' summed character n-gram weights,
 * so a frequent word costs one lookup instead of ~15 (the model is read-only,
 * the cache is the thread's own). */
#define WORD_CACHE 8192

typedef struct word_slot {
    uint64_t key; /* hash of the word; 0 = empty */
    float acc[CX_MODEL_STRIDE];
    int count;
} word_slot;

typedef struct word_cache {
    uint64_t gen; /* of the model the sums are of */
    word_slot slot[WORD_CACHE];
} word_cache;

typedef struct bucket_list {
    uint32_t b[4 * (32 + 2)];
    int n;
} bucket_list;

static void list_fn(void *ctx, uint32_t bucket, cx_feature_group g, float value, const char *name,
                    size_t name_len)
{
    bucket_list *l = ctx;
    const int cap = (int)(sizeof l->b / sizeof l->b[0]);
    (void)g;
    (void)value;
    (void)name;
    (void)name_len;
    if (l->n < cap)
        l->b[l->n++] = bucket;
}

static int chars_fn(void *ctx, const char *w, size_t n, uint64_t key)
{
    score_ctx *s = ctx;
    word_cache *c = s->cache;
    if (c->gen != s->m->gen) {
        memset(c->slot, 0, sizeof c->slot);
        c->gen = s->m->gen;
    }
    word_slot *slot = &c->slot[(key >> 7) & (WORD_CACHE - 1)];
    if (slot->key != key) {
        /* a miss: all of the word's buckets are prefetched, then summed */
        bucket_list l;
        l.n = 0;
        slot->count = cx__char_ngrams(w, n, list_fn, &l);
        for (int i = 0; i < l.n; i++)
            __builtin_prefetch(s->m->w + (size_t)l.b[i] * CX_MODEL_STRIDE);
        float acc[CX_MODEL_STRIDE] = {0};
        for (int i = 0; i < l.n; i++) {
            const int16_t *wb = s->m->w + (size_t)l.b[i] * CX_MODEL_STRIDE;
            for (int k = 0; k < CX_MODEL_STRIDE; k++)
                acc[k] += (float)wb[k];
        }
        memcpy(slot->acc, acc, sizeof acc);
        slot->key = key;
    }
    for (int k = 0; k < CX_MODEL_STRIDE; k++)
        s->acc[CX_FG_CHAR][k] += slot->acc[k];
    return slot->count;
}

void cx__model_score(const cx_classifier *clf, const cx_event *ev, cx_tags *tags,
                     cx_rule_hits *hits, cx_model_out *out)
{
    const cx_model *m = cx__classifier_model(clf);
    score_ctx s;
    int counts[CX_FG_COUNT];
    memset(&s, 0, sizeof s);
    s.m = m;
    s.cache = cx__scratch(CX_SCRATCH_MODEL, sizeof(word_cache));
    cx__features(clf, cx__classifier_valence(clf), ev, tags, hits, score_fn, chars_fn, &s, counts,
                 &out->vs);
    for (unsigned i = s.n_q > LAG ? s.n_q - LAG : 0; i < s.n_q; i++)
        apply(&s, &s.q[i % LAG]);
    float scale[CX_FG_COUNT];
    for (int g = 0; g < CX_FG_COUNT; g++)
        scale[g] = cx__feature_scale((cx_feature_group)g, counts);
    for (int k = 0; k < CX_MODEL_OUT; k++) {
        float z = 0;
        for (int g = 0; g < CX_FG_COUNT; g++)
            z += s.acc[g][k] * scale[g];
        out->z[k] = z * m->scale[k] + (k < CX_CAT_COUNT ? cx__rule_offset(hits, k) : 0.0f);
    }
    for (int c = 0; c < CX_CAT_COUNT; c++) {
        out->n_top[c] = 0;
        for (int k = 0; k < CX_MODEL_TOP; k++)
            if (s.best[c][k].contrib > 0) {
                out->top[c][out->n_top[c]] = s.best[c][k].bucket;
                out->print[c][out->n_top[c]++] = s.best[c][k].print;
            }
    }
}

/* Writes data[0..len) as the file path (a link is followed: the file it
 * names is replaced). It is written beside that file and renamed over it once
 * complete and synced, so that a failed write (a full disk) leaves the model
 * that was there; the new file keeps the old one's owner, group and mode, or
 * where the trainer may not give it that owner and group, the mode made
 * readable by all (a model is no secret; the service must read it). Anything
 * but a file (a pipe, a device) is refused. */
static cx_status write_whole(const char *path, const void *data, size_t len, char *err,
                             size_t errlen)
{
    struct stat sb;
    int exists = stat(path, &sb) == 0;
    if (exists && !S_ISREG(sb.st_mode))
        return cx_errf(err, errlen, CX_ERR_INVALID,
                       "%s: not a file (a pipe, a device or a folder): a model is written to a "
                       "file",
                       path);
    char *real = exists ? realpath(path, NULL) : NULL;
    if (exists && real == NULL)
        return cx_errf(err, errlen, CX_ERR_IO, "%s: cannot write model file: %s", path,
                       strerror(errno));
    const char *target = real ? real : path;
    size_t tlen = strlen(target) + 32;
    char *tmp = malloc(tlen);
    if (tmp == NULL) {
        free(real);
        return cx_errf(err, errlen, CX_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(tmp, tlen, "%s.tmp-%ld", target, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0) {
        cx_status st = cx_errf(err, errlen, CX_ERR_IO,
                               "%s: cannot create %s, where the model is written before it "
                               "replaces the file: %s (the folder must be writable)",
                               path, tmp, strerror(errno));
        free(tmp);
        free(real);
        return st;
    }
    if (exists) { /* the umask and the trainer do not change who may read the model */
        if (fchown(fd, sb.st_uid, sb.st_gid) != 0)
            (void)fchown(fd, (uid_t)-1, sb.st_gid);
        struct stat nb;
        mode_t mode = sb.st_mode & 07777;
        /* another owner or group than the old file's: who read it through
         * those may not read the new one unless everyone may */
        if (fstat(fd, &nb) != 0 || nb.st_uid != sb.st_uid || nb.st_gid != sb.st_gid)
            mode |= 0444;
        (void)fchmod(fd, mode);
    }
    const char *p = data;
    size_t left = len;
    errno = 0;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        p += n;
        left -= (size_t)n;
    }
    int ok = left == 0 && fsync(fd) == 0;
    int why = left > 0 && errno == 0 ? EIO : errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        why = errno;
    }
    if (ok && rename(tmp, target) != 0) {
        ok = 0;
        why = errno;
    }
    if (!ok)
        unlink(tmp);
    free(tmp);
    free(real);
    if (!ok)
        return cx_errf(err, errlen, CX_ERR_IO, "%s: cannot write model file: %s", path,
                       strerror(why));
    return CX_OK;
}

/* ---- Writing ----------------------------------------------------------------- */

static void put32(cx_buf *o, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    cx_buf_put(o, b, 4);
}

static void putf(cx_buf *o, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    put32(o, u);
}

/* Writes kind and the 16 hex digits of h as a name under RULES_BUCKET (nothing for h 0). */
static void put_hash_name(cx_buf *o, const char *kind, uint64_t h)
{
    char s[32];
    if (h == 0)
        return;
    unsigned char n =
        (unsigned char)snprintf(s, sizeof s, "%s%016llx", kind, (unsigned long long)h);
    put32(o, RULES_BUCKET);
    cx_buf_put(o, &n, 1);
    cx_buf_put(o, s, n);
}

cx_status cx__model_write(const char *path, const float *w, const float thresholds[CX_CAT_COUNT],
                          const char *const *names, uint64_t rules_hash, uint64_t features,
                          char *err, size_t errlen)
{
    float scale[CX_MODEL_OUT] = {0};
    uint32_t n_entries = 0, n_names = 0;
    for (size_t b = 0; b < CX_MODEL_BUCKETS; b++) {
        int any = 0;
        for (int k = 0; k < CX_MODEL_OUT; k++) {
            float x = fabsf(w[b * CX_MODEL_STRIDE + (size_t)k]);
            /* the loader takes a scale in (0, 1]: weights within +-32767 */
            if (!(x <= 32767.0f)) /* NaN too */
                return cx_errf(err, errlen, CX_ERR_INVALID,
                               "%s: training diverged (a weight is %s): try a lower --rate", path,
                               isnan(x) ? "not a number" : "beyond +-32767");
            scale[k] = fmaxf(scale[k], x);
            any |= x > 0;
        }
        n_entries += (uint32_t)any;
        n_names += any && names[b] != NULL;
    }
    for (int k = 0; k < CX_MODEL_OUT; k++)
        scale[k] = scale[k] > 0 ? scale[k] / 32767.0f : 1.0f;

    cx_buf o = {0};
    cx_buf_put(&o, MAGIC, 8);
    put32(&o, FORMAT);
    put32(&o, CX_MODEL_BITS);
    put32(&o, CX_MODEL_OUT);
    for (int c = 0; c < CX_CAT_COUNT; c++)
        putf(&o, thresholds[c]);
    for (int k = 0; k < CX_MODEL_OUT; k++)
        putf(&o, scale[k]);
    put32(&o, n_entries);
    put32(&o, n_names + (rules_hash != 0) + (features != 0)); /* and the two hashes */
    for (uint32_t b = 0; b < CX_MODEL_BUCKETS; b++) {
        unsigned char e[ENTRY];
        int any = 0;
        for (int k = 0; k < CX_MODEL_OUT; k++) {
            float x = w[(size_t)b * CX_MODEL_STRIDE + (size_t)k];
            long q = lroundf(x / scale[k]);
            q = q > 32767 ? 32767 : q < -32767 ? -32767 : q;
            any |= x != 0;
            e[4 + 2 * k] = (unsigned char)((uint16_t)(int16_t)q & 0xff);
            e[5 + 2 * k] = (unsigned char)((uint16_t)(int16_t)q >> 8);
        }
        if (!any)
            continue;
        e[0] = (unsigned char)b;
        e[1] = (unsigned char)(b >> 8);
        e[2] = (unsigned char)(b >> 16);
        e[3] = (unsigned char)(b >> 24);
        cx_buf_put(&o, e, sizeof e);
    }
    for (uint32_t b = 0; b < CX_MODEL_BUCKETS; b++) {
        int any = 0;
        for (int k = 0; k < CX_MODEL_OUT; k++)
            any |= w[(size_t)b * CX_MODEL_STRIDE + (size_t)k] != 0;
        if (!any || names[b] == NULL)
            continue;
        size_t n = strlen(names[b]);
        unsigned char len = (unsigned char)(n > 200 ? 200 : n);
        put32(&o, b);
        cx_buf_put(&o, &len, 1);
        cx_buf_put(&o, names[b], len);
    }
    put_hash_name(&o, "rules:", rules_hash);
    put_hash_name(&o, "features:", features);
    uint64_t sum = cx__model_checksum((const unsigned char *)o.data, o.len);
    unsigned char s[8];
    for (int i = 0; i < 8; i++)
        s[i] = (unsigned char)(sum >> (8 * i));
    cx_buf_put(&o, s, 8);
    if (o.failed) {
        cx_buf_free(&o);
        return cx_errf(err, errlen, CX_ERR_NOMEM, "%s: out of memory", path);
    }
    cx_status st = write_whole(path, o.data, o.len, err, errlen);
    cx_buf_free(&o);
    return st;
}
