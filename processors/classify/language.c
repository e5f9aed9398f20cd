/*
 * language.c - tells text that is not English, which the built-in model and
 * the sentiment lexicons cannot read: they would read "Die" in "Die Lieferung
 * kam pünktlich" as the English verb and "Çok" (without its Ç) as "ok", and
 * a text without one known word gets the model's bias, which is a complaint.
 * A declared language decides; without one, the script of the letters, then
 * function words, which every sentence of some length has and which no
 * product or brand name changes. Short texts stay unknown (read as English).
 */
#include "language.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Declared primary subtags returned as static strings (ISO 639-1, and the
 * three-letter ones most often sent). */
static const char *const known_tags[] = {
    "af", "am", "ar", "az", "be", "bg", "bn",  "bs", "ca",  "cs", "cy", "da", "de", "el",
    "eo", "es", "et", "eu", "fa", "fi", "fil", "fr", "ga",  "gl", "gu", "ha", "he", "hi",
    "hr", "hu", "hy", "id", "is", "it", "ja",  "jv", "ka",  "kk", "km", "kn", "ko", "lt",
    "lv", "mk", "ml", "mn", "mr", "ms", "mt",  "my", "nb",  "ne", "nl", "nn", "no", "pa",
    "pl", "ps", "pt", "ro", "ru", "si", "sk",  "sl", "so",  "sq", "sr", "sv", "sw", "ta",
    "te", "th", "tl", "tr", "uk", "ur", "uz",  "vi", "yue", "zh", "zu"};

/* ISO 639-2 codes (bibliographic and terminology) of the languages most
 * often sent that way ("deu", "ger"), with their ISO 639-1 codes. */
static const char *const three_letter[][2] = {
    {"ara", "ar"}, {"ces", "cs"}, {"chi", "zh"}, {"cze", "cs"}, {"dan", "da"}, {"deu", "de"},
    {"dut", "nl"}, {"ell", "el"}, {"fin", "fi"}, {"fra", "fr"}, {"fre", "fr"}, {"ger", "de"},
    {"gre", "el"}, {"heb", "he"}, {"hin", "hi"}, {"hun", "hu"}, {"ind", "id"}, {"ita", "it"},
    {"jpn", "ja"}, {"kor", "ko"}, {"may", "ms"}, {"msa", "ms"}, {"nld", "nl"}, {"nob", "nb"},
    {"nor", "no"}, {"pol", "pl"}, {"por", "pt"}, {"ron", "ro"}, {"rum", "ro"}, {"rus", "ru"},
    {"spa", "es"}, {"swe", "sv"}, {"tgl", "tl"}, {"tha", "th"}, {"tur", "tr"}, {"ukr", "uk"},
    {"vie", "vi"}, {"zho", "zh"}};

/* Function words of Latin-script languages, none of them a word, name or
 * abbreviation English feedback uses ("die", "war", "van", "do", "com", "la",
 * "los", "ai", "est", "met", "na" are left out). A word may be in several
 * lists ("que", "una"). */
enum { DE, ES, FR, IT, PT, NL, TR, PL, N_LANG };
static const char *const lang_code[N_LANG] = {"de", "es", "fr", "it", "pt", "nl", "tr", "pl"};
static const char *const function_words[N_LANG] = {
    [DE] = (" der das und ist nicht sehr ich wurde eine einen auf für dem sich auch aber nach "
            "kein keine wir mein meine noch schon alles nur wird wurden zum zur vom habe haben "
            "ihr "),
    [ES] = " el las que muy por para pero fue una del está todo nada más ",
    [FR] = (" le les très avec pour je mon mes pas une du aux cette qui elle nous vous été "
            "sont mais dans "),
    [IT] = " gli della che è molto sono una del questo tutto anche nel ",
    [PT] = " que muito para não foi uma meu minha está você é pelo pela ",
    [NL] = " het een niet voor zeer ik mijn maar ",
    [TR] = " bir çok için değil daha gibi hiç sonra kadar ",
    [PL] = " nie się jest że bardzo mój moja już przez ",
};
static const char *const english_words =
    " the and was were is are to of my it for with you this that but they have has had we our "
    "your not at been would when there their from will just after again very what which who "
    "about because i ";

static int latin_letter(uint32_t c)
{
    return (c < 0x80 && ((c | 0x20) - 'a') < 26) ||
           (c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7) || (c >= 0x1E00 && c <= 0x1EFF);
}

/* The script of a letter of another script than Latin, or NULL. */
static const char *other_script(uint32_t c)
{
    if (c < 0x370)
        return NULL;
    if (c <= 0x3FF)
        return "el";
    if (c <= 0x52F)
        return "cyrillic";
    if (c >= 0x530 && c <= 0x58F)
        return "hy";
    if (c >= 0x590 && c <= 0x5FF)
        return "he";
    if ((c >= 0x600 && c <= 0x6FF) || (c >= 0x750 && c <= 0x77F) || (c >= 0x8A0 && c <= 0x8FF) ||
        (c >= 0xFB50 && c <= 0xFDFF) || (c >= 0xFE70 && c <= 0xFEFF))
        return "arabic";
    if (c >= 0x900 && c <= 0x97F)
        return "devanagari";
    if (c >= 0x980 && c <= 0xDFF)
        return "indic";
    if (c >= 0xE00 && c <= 0xE7F)
        return "th";
    if (c >= 0x10A0 && c <= 0x10FF)
        return "ka";
    if ((c >= 0x1100 && c <= 0x11FF) || (c >= 0x3130 && c <= 0x318F) ||
        (c >= 0xAC00 && c <= 0xD7AF))
        return "ko";
    if (c >= 0x3040 && c <= 0x30FF)
        return "ja";
    if ((c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
        (c >= 0xF900 && c <= 0xFAFF))
        return "zh";
    return NULL;
}

/* Lower case of the letters function words are made of. */
static uint32_t fold(uint32_t c)
{
    if (c < 0x80)
        return c >= 'A' && c <= 'Z' ? c + 32 : c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
        return c + 32;
    if (c == 0x130) /* "İ": Turkish capital i */
        return 'i';
    /* Latin Extended-A: upper case first in each pair ("Ğ" 0x11E, "Ż" 0x17B) */
    if (((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) && c % 2 == 0 && c != 0x130)
        return c + 1;
    if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) && c % 2 == 1)
        return c + 1;
    return c;
}

static size_t put_utf8(char *out, uint32_t c)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    out[0] = (char)(0xE0 | c >> 12);
    out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[2] = (char)(0x80 | (c & 0x3F));
    return 3;
}

/* Every listed word once, in an open-addressing hash table, with a bit per
 * language (bit N_LANG: English), built on first use. */
#define MAX_WORD 12
#define TABLE_SIZE 1024 /* a power of two, over 4 times the words */
typedef struct {
    char w[MAX_WORD];
    unsigned char len; /* 0: an empty slot */
    unsigned mask;
} entry;
static entry table[TABLE_SIZE];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static uint32_t hash(const char *w, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)w[i]) * 16777619u;
    return h;
}

/* The slot of w (len bytes, < MAX_WORD): where it is, or the empty one it would take. */
static entry *slot(const char *w, size_t len)
{
    for (uint32_t h = hash(w, len);; h++) {
        entry *e = &table[h & (TABLE_SIZE - 1)];
        if (e->len == 0 || (e->len == len && memcmp(e->w, w, len) == 0))
            return e;
    }
}

static void add_list(const char *list, unsigned bit)
{
    for (const char *p = list; *p != '\0';) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len == 0 || len >= MAX_WORD)
            break;
        entry *e = slot(p, len);
        memcpy(e->w, p, len);
        e->len = (unsigned char)len;
        e->mask |= bit;
        p += len;
    }
}

static void build_table(void)
{
    for (int l = 0; l < N_LANG; l++)
        add_list(function_words[l], 1u << l);
    add_list(english_words, 1u << N_LANG);
}

static const char *declared(const char *tag)
{
    char primary[8];
    size_t n = 0;
    while (tag[n] != '\0' && tag[n] != '-' && tag[n] != '_' && n + 1 < sizeof primary) {
        primary[n] = (char)(tag[n] >= 'A' && tag[n] <= 'Z' ? tag[n] + 32 : tag[n]);
        n++;
    }
    primary[n] = '\0';
    if (strcmp(primary, "en") == 0 || strcmp(primary, "eng") == 0 ||
        strcmp(primary, "english") == 0)
        return NULL;
    if (n == 0 || strcmp(primary, "und") == 0 || strcmp(primary, "mul") == 0 ||
        strcmp(primary, "zxx") == 0 || (tag[n] != '\0' && tag[n] != '-' && tag[n] != '_'))
        return "";
    for (size_t i = 0; i < sizeof known_tags / sizeof known_tags[0]; i++)
        if (strcmp(known_tags[i], primary) == 0)
            return known_tags[i];
    for (size_t i = 0; i < sizeof three_letter / sizeof three_letter[0]; i++)
        if (strcmp(three_letter[i][0], primary) == 0)
            return three_letter[i][1];
    return ""; /* not a tag this knows ("German", "klingon"): the text decides */
}

const char *cx__text_language(const cx_event *ev)
{
    if (ev->language != NULL) {
        const char *d = declared(ev->language);
        if (d == NULL || d[0] != '\0')
            return d; /* English, or another language */
    }
    if (ev->text == NULL)
        return NULL;
    const unsigned char *s = (const unsigned char *)ev->text;
    size_t n = ev->text_len, i = 0;
    size_t latin = 0, other = 0, cjk = 0, english = 0, foreign = 0, per[N_LANG] = {0};
    const char *script = NULL;
    int kana = 0;
    char word[MAX_WORD];
    size_t wl = 0;
    unsigned char seen[TABLE_SIZE / 8] = {0}; /* table slots counted */
    pthread_once(&table_once, build_table);
    while (i <= n) {
        uint32_t c;
        if (i < n && s[i] < 0x80) { /* most text: no script to look up */
            c = s[i++];
            if (((c | 0x20) - 'a') < 26) {
                latin++;
                if (wl < MAX_WORD)
                    word[wl++] = (char)(c | 0x20);
                continue;
            }
        } else {
            size_t k = 1;
            c = i < n ? cx_utf8_next(s + i, s + n, &k) : 0;
            i += k;
            const char *sc = other_script(c);
            if (sc != NULL) {
                other++;
                cjk += !strcmp(sc, "ja") || !strcmp(sc, "zh") || !strcmp(sc, "ko");
                kana |= sc[0] == 'j';
                script = sc;
            }
            if (latin_letter(c)) {
                latin++;
                if (wl + 3 < MAX_WORD)
                    wl += put_utf8(word + wl, fold(c));
                else
                    wl = MAX_WORD; /* too long for a function word */
                continue;
            }
        }
        if (wl > 0 && wl < MAX_WORD) { /* a word ended: counted once however often */
            entry *e = slot(word, wl);
            size_t k = (size_t)(e - table);
            unsigned m = e->mask;
            if (m != 0 && !(seen[k / 8] & (1u << (k % 8)))) {
                seen[k / 8] |= (unsigned char)(1u << (k % 8));
                english += (m >> N_LANG) & 1;
                for (int l = 0; l < N_LANG; l++)
                    per[l] += (m >> l) & 1;
                foreign += (m & ((1u << N_LANG) - 1)) != 0;
                if (english >= 3 && foreign == 0 && other == 0)
                    return NULL; /* English, plainly: the rest need not be read (another
                                    language would need 9 of its words to outweigh them) */
            }
        }
        wl = 0;
    }
    /* A Chinese, Japanese or Korean character is about a word, as long as
     * four Latin letters: "iPhone 15 Pro Max の配送が遅い" is Japanese. Not
     * for a name of two or three characters in English ("张伟明 was rude"). */
    if (other >= 2 && (other > latin || (cjk >= 4 && other + 3 * cjk > latin)))
        return kana ? "ja" : script; /* Japanese has kanji among its kana */
    int best = 0;
    for (int l = 1; l < N_LANG; l++)
        if (per[l] > per[best])
            best = l;
    /* two distinct function words of one language, three times English's */
    return per[best] >= 2 && per[best] >= 3 * english ? lang_code[best] : NULL;
}
