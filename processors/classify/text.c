/*
 * text.c - what the classifier reads of an event's text (see text.h): the
 * customer's words without the markup and the mail and chat boilerplate
 * around them. Two passes: characters (tags, character references,
 * invisible characters), then lines (reply headers, quotes, signatures,
 * disclaimers, what bots say). Both only ever shorten the text.
 */
#include "text.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "lexicon.h"
#include "model.h"

/* Bytes a tag may span (attributes included) to be taken for one. */
#define MAX_TAG 1024
/* Lines after a sign-off that can still be a signature, and their length. */
#define SIGNATURE_LINES 6
#define SIGNATURE_LINE_LEN 80
/* Longest reply header ("On Mon, 3 Nov 2025 at 10:02, Name <a@b> wrote:"). */
#define MAX_HEADER 300

/* ---- Characters ---------------------------------------------------------- */

/* Case is ASCII case (the C locale: cxpulse never sets another). */
static int starts_ci(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    return n >= k && strncasecmp(s, lit, k) == 0;
}

static int ends_ci(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    return n >= k && strncasecmp(s + n - k, lit, k) == 0;
}

/* Whether s[0..n) starts (ends) with one of lits[0..count). */
static int starts_any(const char *s, size_t n, const char *const *lits, size_t count)
{
    for (size_t k = 0; k < count; k++)
        if (starts_ci(s, n, lits[k]))
            return 1;
    return 0;
}

static int ends_any(const char *s, size_t n, const char *const *lits, size_t count)
{
    for (size_t k = 0; k < count; k++)
        if (ends_ci(s, n, lits[k]))
            return 1;
    return 0;
}

/* Whether code point c is invisible and splits a word for a reader that
 * does not know it: zero-width space and non-joiner, word joiner, soft
 * hyphen, byte-order mark. (The zero-width joiner holds emoji sequences
 * together, and the no-break space separates words as a space does.) */
static int invisible(unsigned long c)
{
    return c == 0x200B || c == 0x200C || c == 0x2060 || c == 0xAD || c == 0xFEFF;
}

/* What a code point is read as where the rules, the lexicons and the model
 * would otherwise not know a word: the apostrophes of other keyboards and
 * fonts ("can´t", "didnʼt", "haven‘t") as ', full-width forms ("ｒｅｆｕｎｄ")
 * as ASCII, the ideographic space as a space; 0: as it is. */
static uint32_t plain(uint32_t c)
{
    if (c == 0x2018 || c == 0x2BC || c == 0xB4 || c == 0xFF07 || c == 0x2032)
        return '\'';
    if (c >= 0xFF01 && c <= 0xFF5E)
        return c - 0xFEE0;
    return c == 0x3000 ? ' ' : 0;
}

/* The named references that occur in mail and web forms; each is longer
 * than what it stands for. */
static const struct {
    const char *name, *utf8;
} named[] = {
    {"amp", "&"},
    {"lt", "<"},
    {"gt", ">"},
    {"quot", "\""},
    {"apos", "'"},
    {"nbsp", " "},
    {"shy", ""},
    {"ndash", "\xe2\x80\x93"},
    {"mdash", "\xe2\x80\x94"},
    {"hellip", "\xe2\x80\xa6"},
    {"lsquo", "\xe2\x80\x98"},
    {"rsquo", "\xe2\x80\x99"},
    {"ldquo", "\xe2\x80\x9c"},
    {"rdquo", "\xe2\x80\x9d"},
    {"euro", "\xe2\x82\xac"},
    {"pound", "\xc2\xa3"},
    {"copy", "\xc2\xa9"},
    {"reg", "\xc2\xae"},
    {"trade", "\xe2\x84\xa2"},
};

static int hex_value(unsigned char c)
{
    return cx__ascii_digit(c)                       ? c - '0'
           : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10
                                                    : -1;
}

/* The character reference at s[0..n) (s[0] == '&'), decoded to o: returns
 * the bytes of s it spans (*wrote: bytes written, never more), or 0 when it
 * is none (the '&' is then text). */
static size_t reference(const char *s, size_t n, char *o, size_t *wrote)
{
    size_t i = 1;
    *wrote = 0;
    if (i < n && s[i] == '#') {
        int base = 10;
        unsigned long c = 0;
        if (++i < n && (s[i] == 'x' || s[i] == 'X')) {
            base = 16;
            i++;
        }
        size_t d0 = i;
        for (int v; i < n && i - d0 < 7; i++) {
            v = base == 16                             ? hex_value((unsigned char)s[i])
                : cx__ascii_digit((unsigned char)s[i]) ? s[i] - '0'
                                                       : -1;
            if (v < 0)
                break;
            c = c * (unsigned long)base + (unsigned long)v;
        }
        if (i == d0 || i >= n || s[i] != ';' || c == 0 || c > 0x10FFFF ||
            (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        if (c == '\n')
            o[(*wrote)++] = '\n';
        else if (c < 0x20 || c == 0x7F || c == 0xA0)
            o[(*wrote)++] = ' ';
        else if (plain((uint32_t)c) != 0)
            o[(*wrote)++] = (char)plain((uint32_t)c);
        else if (!invisible(c))
            *wrote = cx_utf8_put(o, (uint32_t)c);
        return i + 1;
    }
    while (i < n && i <= 8 && cx__ascii_alpha((unsigned char)s[i]))
        i++;
    if (i >= n || s[i] != ';')
        return 0;
    for (size_t k = 0; k < sizeof named / sizeof named[0]; k++)
        if (strlen(named[k].name) == i - 1 && memcmp(named[k].name, s + 1, i - 1) == 0) {
            *wrote = strlen(named[k].utf8);
            memcpy(o, named[k].utf8, *wrote);
            return i + 1;
        }
    return 0;
}

/* What a scan of one text knows, so that no input makes it quadratic (16 K
 * unclosed "<style>" or "<!--"): where the text's last "-->" starts, and how
 * many more bytes the search for hidden elements' ends may read. */
typedef struct unclosed {
    const char *text;  /* the text scanned */
    size_t last_close; /* its last "-->", or SIZE_MAX when it has none */
    size_t budget;     /* bytes skip_element() may still read */
} unclosed;

/* The length of the tag or comment at s[0..n) (s[0] == '<'), or 0 when it
 * is none: '<' then a letter, "/" and a letter, '!' or '?', and a '>' before
 * any other '<' within MAX_TAG bytes ("I <3 it" and "a < b" are text). */
static size_t tag_len(const char *s, size_t n, unclosed *u)
{
    if (n < 3)
        return 0;
    if (n >= 4 && memcmp(s, "<!--", 4) == 0) {
        size_t at = (size_t)(s - u->text); /* closed when a "-->" follows */
        for (size_t i = 4; u->last_close != SIZE_MAX && at + i <= u->last_close; i++)
            if (memcmp(s + i, "-->", 3) == 0)
                return i + 3;
        return 0;
    }
    unsigned char c = (unsigned char)s[1];
    if (!(cx__ascii_alpha(c) || (c == '/' && cx__ascii_alpha((unsigned char)s[2])) || c == '!' ||
          c == '?'))
        return 0;
    for (size_t i = 1; i < n && i < MAX_TAG; i++) {
        if (s[i] == '>')
            return i + 1;
        if (s[i] == '<')
            return 0;
    }
    return 0;
}

/* Whether the tag at s names element name (lower-case), opening or closing. */
static int tag_is(const char *s, size_t tl, const char *name, int *closing)
{
    size_t i = 1, k = strlen(name);
    *closing = s[1] == '/';
    i += (size_t)*closing;
    return tl >= i + k + 1 && strncasecmp(s + i, name, k) == 0 &&
           !cx__ascii_alnum((unsigned char)s[i + k]);
}

/* Elements whose contents are not the customer's words. */
static const char *const hidden[] = {"style", "script", "head", "title", "blockquote"};
/* Elements whose end is a line's. */
static const char *const blocks[] = {"br", "p",  "div", "li",  "tr",        "table",
                                     "ul", "ol", "hr",  "h1",  "h2",        "h3",
                                     "h4", "h5", "h6",  "pre", "blockquote"};

/* The end of hidden element k whose opening tag ends at s[i]: past its
 * closing tag (nested ones of the same name counted), or i when it has none. */
static size_t skip_element(const char *s, size_t n, size_t i, size_t k, unclosed *u)
{
    int depth = 1, closing;
    for (size_t j = i; j < n && u->budget > 0; j++, u->budget--) {
        size_t tl;
        if (s[j] != '<' || (tl = tag_len(s + j, n - j, u)) == 0)
            continue;
        if (tag_is(s + j, tl, hidden[k], &closing) && (depth += closing ? -1 : 1) == 0)
            return j + tl;
        j += tl - 1;
    }
    return i;
}

/* The bytes that may start a tag, a reference, an invisible character
 * (U+00AD, U+200B, U+200C, U+FEFF in UTF-8), a joiner or one plain() reads
 * otherwise (U+00B4, U+02BC, U+2018, U+2032, U+3000, U+FF01 to U+FF5E). */
static const unsigned char looked_at[256] = {
    ['<'] = 1, ['&'] = 1, [0xC2] = 1, [0xCA] = 1, [0xE2] = 1, [0xE3] = 1, [0xEF] = 1};

/* Pass 1: markup, references and invisible characters out of s[0..n) into o. */
static size_t characters(const char *s, size_t n, char *o)
{
    size_t w = 0;
    /* the search for ends reads at most the text four times over */
    unclosed u = {.text = s, .last_close = SIZE_MAX, .budget = 4 * n + 4096};
    for (size_t i = n; i >= 3 && u.last_close == SIZE_MAX; i--)
        if (memcmp(s + i - 3, "-->", 3) == 0)
            u.last_close = i - 3;
    for (size_t i = 0; i < n;) {
        size_t run = i; /* bytes that need no look: copied at once */
        while (run < n && !looked_at[(unsigned char)s[run]])
            run++;
        memmove(o + w, s + i, run - i);
        w += run - i;
        if ((i = run) >= n)
            break;
        unsigned char c = (unsigned char)s[i];
        size_t tl, took, wrote;
        if (c == '<' && (tl = tag_len(s + i, n - i, &u)) > 0) {
            int closing, line = 0;
            size_t next = i + tl;
            for (size_t k = 0; k < sizeof hidden / sizeof hidden[0]; k++)
                if (tag_is(s + i, tl, hidden[k], &closing) && !closing) {
                    next = skip_element(s, n, next, k, &u);
                    line = 1;
                }
            for (size_t k = 0; k < sizeof blocks / sizeof blocks[0]; k++)
                line |= tag_is(s + i, tl, blocks[k], &closing);
            o[w++] = line ? '\n' : ' ';
            i = next;
        } else if (c == '&' && (took = reference(s + i, n - i, o + w, &wrote)) > 0) {
            w += wrote;
            i += took;
        } else if (c >= 0x80) {
            uint32_t cp =
                cx_utf8_next((const unsigned char *)s + i, (const unsigned char *)s + n, &took);
            int whole = took > 1; /* a well-formed sequence, not a stray byte */
            uint32_t as = whole ? plain(cp) : 0;
            /* the zero-width joiner holds emoji sequences together; between
             * two letters it only splits a word ("re<U+200D>fund") */
            int gone = whole && (invisible(cp) || (cp == 0x200D && w > 0 && i + took < n &&
                                                   cx__ascii_alpha((unsigned char)o[w - 1]) &&
                                                   cx__ascii_alpha((unsigned char)s[i + took])));
            if (as != 0)
                o[w++] = (char)as;
            else if (!gone) {
                memcpy(o + w, s + i, took);
                w += took;
            }
            i += took;
        } else {
            o[w++] = s[i++];
        }
    }
    return w;
}

/* Where lit (lower-case) first occurs in s[0..n), ignoring case, or n. */
static size_t find_ci(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    for (size_t i = 0; i + k <= n; i++)
        if ((s[i] | 0x20) == (lit[0] | 0x20) && strncasecmp(s + i, lit, k) == 0)
            return i;
    return n;
}

/* ---- Lines --------------------------------------------------------------- */

typedef struct line {
    const char *s; /* the line, without its '\n' */
    size_t n;
    const char *t; /* trimmed of spaces, tabs and '\r' */
    size_t tn;
} line;

/* The line starting at s[*pos] (of n); advances *pos past its '\n'. */
static int next_line(const char *s, size_t n, size_t *pos, line *l)
{
    if (*pos >= n)
        return 0;
    const char *nl = memchr(s + *pos, '\n', n - *pos);
    l->s = s + *pos;
    l->n = nl ? (size_t)(nl - l->s) : n - *pos;
    *pos += l->n + (nl != NULL);
    l->t = l->s;
    l->tn = l->n;
    while (l->tn > 0 && (*l->t == ' ' || *l->t == '\t' || *l->t == '\r')) {
        l->t++;
        l->tn--;
    }
    while (l->tn > 0 &&
           (l->t[l->tn - 1] == ' ' || l->t[l->tn - 1] == '\t' || l->t[l->tn - 1] == '\r'))
        l->tn--;
    return 1;
}

/* Whether s[0..n) has a letter or digit (any non-ASCII character counts). */
static int has_content(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cx__ascii_alnum((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80)
            return 1;
    return 0;
}

static int quoted(const line *l)
{
    return l->tn > 0 && l->t[0] == '>';
}

/* Whether l ends as a reply header does ("... wrote:", in a few languages). */
static int ends_wrote(const line *l)
{
    static const char *const wrote[] = {"wrote:",
                                        "writes:",
                                        "schrieb:",
                                        "a \xc3\xa9"
                                        "crit :",
                                        "a \xc3\xa9"
                                        "crit:",
                                        "escribi\xc3\xb3:",
                                        "schreef:",
                                        "ha scritto:",
                                        "escreveu:",
                                        "skrev:"};
    return ends_any(l->t, l->tn, wrote, CX_ARRAY_LEN(wrote));
}

/* Whether s[0..n) has a digit or '@' (a date or an address: every reply
 * header has one, a sentence ending "wrote:" seldom does). */
static int dated(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cx__ascii_digit((unsigned char)s[i]) || s[i] == '@')
            return 1;
    return 0;
}

/* How many lines, l's and the next, a reply header starting at l spans (a
 * mail client may wrap it), or 0 when l starts none. */
static int reply_header(const line *l, const line *next)
{
    if (ends_wrote(l))
        return l->tn <= MAX_HEADER && dated(l->t, l->tn) ? 1 : 0;
    static const char *const on[] = {"on ", "am ", "le ", "el ", "op "};
    if (next != NULL && ends_wrote(next) && l->tn + next->tn <= MAX_HEADER &&
        starts_any(l->t, l->tn, on, CX_ARRAY_LEN(on)) &&
        (dated(l->t, l->tn) || dated(next->t, next->tn)))
        return 2;
    return 0;
}

/* Whether l opens a forwarded or original message ("-----Original
 * Message-----", "---------- Forwarded message ---------", "Begin forwarded
 * message:"). */
static int forward_header(const line *l)
{
    return ((l->tn > 0 && (l->t[0] == '-' || l->t[0] == '_')) &&
            (find_ci(l->t, l->tn, "original message") < l->tn ||
             find_ci(l->t, l->tn, "forwarded message") < l->tn)) ||
           starts_ci(l->t, l->tn, "begin forwarded message");
}

/* Whether l is a mail header line other than the subject. */
static int mail_header(const line *l)
{
    static const char *const names[] = {"from:", "to:", "sent:", "date:", "cc:", "reply-to:"};
    return starts_any(l->t, l->tn, names, CX_ARRAY_LEN(names));
}

/* Whether l is "-- " or "--", the signature delimiter of RFC 3676. */
static int signature_delimiter(const line *l)
{
    size_t n = l->n;
    while (n > 0 && l->s[n - 1] == '\r')
        n--;
    return (n == 2 && memcmp(l->s, "--", 2) == 0) || (n == 3 && memcmp(l->s, "-- ", 3) == 0);
}

/* Whether l opens a mail disclaimer (or the environment's plea). */
static int disclaimer(const line *l)
{
    static const char *const openers[] = {
        "this e-mail and any",
        "this email and any",
        "this message and any",
        "this e-mail (including",
        "this email (including",
        "this e-mail is confidential",
        "this email is confidential",
        "this message is confidential",
        "this e-mail may contain",
        "this email may contain",
        "this message may contain",
        "this e-mail is intended",
        "this email is intended",
        "this message is intended",
        "the information contained in this",
        "the information in this e-mail",
        "the information in this email",
        "the information in this message",
        "confidentiality notice",
        "disclaimer:",
        "if you are not the intended recipient",
        "please consider the environment",
        /* German, French, Spanish, Italian, Dutch, whose mail reaches English desks */
        "diese e-mail enth",
        "diese nachricht enth",
        "diese e-mail und",
        "ce message et",
        "ce message est confidentiel",
        "ce courriel",
        "este mensaje",
        "este correo",
        "questo messaggio",
        "deze e-mail",
    };
    return starts_any(l->t, l->tn, openers, CX_ARRAY_LEN(openers));
}

/* Whether l reads as a sentence, which a signature's lines (a name, a title,
 * a phone number, an address) do not: four words or more ending as a
 * sentence does, or ten words or more. */
static int sentence(const line *l)
{
    size_t words = 0;
    for (size_t i = 0; i < l->tn; i++)
        words += l->t[i] != ' ' && (i == 0 || l->t[i - 1] == ' ');
    char last = l->tn > 0 ? l->t[l->tn - 1] : '\0';
    return words >= 10 ||
           (words >= 4 && (last == '.' || last == '!' || last == '?' ||
                           (l->tn >= 3 && memcmp(l->t + l->tn - 3, "\xe2\x80\xa6", 3) == 0)));
}

/* Whether l can be a signature's line: empty, or short, no sentence, no
 * P.S., and opening as a name, a title, a phone number or an address does
 * (a capital, a digit, '+', '(') unless it is an e-mail or web address
 * ("still no refund for March though" is the customer's). */
static int signature_line(const line *l)
{
    if (l->tn == 0)
        return 1;
    unsigned char c = (unsigned char)l->t[0];
    int address = memchr(l->t, '@', l->tn) != NULL || find_ci(l->t, l->tn, "www.") < l->tn ||
                  find_ci(l->t, l->tn, "://") < l->tn;
    return l->tn <= SIGNATURE_LINE_LEN && !sentence(l) && !starts_ci(l->t, l->tn, "p.s") &&
           !starts_ci(l->t, l->tn, "ps ") && !starts_ci(l->t, l->tn, "ps:") &&
           !starts_ci(l->t, l->tn, "ps.") &&
           (address || (c >= 'A' && c <= 'Z') || cx__ascii_digit(c) || c == '+' || c == '(' ||
            c >= 0x80);
}

/* Whether l is a sign-off ("Kind regards,", "Thanks!", "Cheers"), alone or
 * with a name of at most three words ("Best, Jo Bloggs"). */
static int sign_off(const line *l)
{
    static const char *const words[] = {
        "regards",
        "kind regards",
        "best regards",
        "warm regards",
        "warmest regards",
        "kindest regards",
        "many thanks",
        "thanks",
        "thank you",
        "thanks again",
        "thanks in advance",
        "thank you in advance",
        "cheers",
        "best",
        "all the best",
        "best wishes",
        "sincerely",
        "yours sincerely",
        "yours faithfully",
        "yours truly",
        "respectfully",
        "thanks and regards",
        "thanks & regards",
        "with thanks",
        "rgds",
        "br",
        "kr",
    };
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
        size_t i = strlen(words[k]), names = 0;
        if (!starts_ci(l->t, l->tn, words[k]) ||
            (i < l->tn && cx__ascii_alnum((unsigned char)l->t[i])))
            continue;
        while (i < l->tn && (l->t[i] == ',' || l->t[i] == '.' || l->t[i] == '!'))
            i++; /* then at most a name: "Kind regards, Jo Bloggs" */
        for (int in_word = 0; i < l->tn; i++) {
            unsigned char c = (unsigned char)l->t[i];
            if (c == ' ') {
                in_word = 0;
            } else if (!in_word && ((c >= 'A' && c <= 'Z') || c >= 0x80)) {
                in_word = 1;
                names++;
            } else if (!in_word || !(cx__ascii_alpha(c) || c >= 0x80 || c == '.' || c == '-' ||
                                     c == '\'' || c == '!' || c == ',')) {
                break; /* punctuation alone, or a word that is not a name's */
            }
        }
        if (i == l->tn && names <= 3 && l->tn <= 80)
            return 1;
    }
    return 0;
}

/* Who a speaker's label names. */
enum { SPEAKER_NONE, SPEAKER_MACHINE, SPEAKER_STAFF, SPEAKER_CUSTOMER };

/* Who the speaker's label opening l names ("Customer:", "Agent (Lina):",
 * "[10:02] Bot:", "10:02 pm System:"), SPEAKER_NONE when it opens none.
 * Only the roles chat and call-centre tools write are labels ("Order: 123"
 * is not one; nor "You:", which is either side). */
static int speaker(const line *l, size_t *end)
{
    static const struct {
        const char *name;
        int who;
    } roles[] = {
        {"bot", SPEAKER_MACHINE},
        {"chatbot", SPEAKER_MACHINE},
        {"system", SPEAKER_MACHINE},
        {"virtual agent", SPEAKER_MACHINE},
        {"virtual assistant", SPEAKER_MACHINE},
        {"assistant", SPEAKER_MACHINE},
        {"automated message", SPEAKER_MACHINE},
        {"agent", SPEAKER_STAFF},
        {"advisor", SPEAKER_STAFF},
        {"adviser", SPEAKER_STAFF},
        {"rep", SPEAKER_STAFF},
        {"representative", SPEAKER_STAFF},
        {"support", SPEAKER_STAFF},
        {"operator", SPEAKER_STAFF},
        {"specialist", SPEAKER_STAFF},
        {"staff", SPEAKER_STAFF},
        {"customer", SPEAKER_CUSTOMER},
        {"client", SPEAKER_CUSTOMER},
        {"caller", SPEAKER_CUSTOMER},
        {"visitor", SPEAKER_CUSTOMER},
        {"user", SPEAKER_CUSTOMER},
        {"guest", SPEAKER_CUSTOMER},
        {"me", SPEAKER_CUSTOMER},
    };
    const char *s = l->t;
    size_t n = l->tn, i = 0;
    if (n > 0 && (s[0] == '[' || s[0] == '(')) { /* a time stamp */
        char close = s[0] == '[' ? ']' : ')';
        while (i < n && i < 32 && s[i] != close)
            i++;
        if (i == n || s[i] != close)
            return SPEAKER_NONE;
        i++;
    } else {
        while (i < n && (cx__ascii_digit((unsigned char)s[i]) || s[i] == ':'))
            i++;
        if (i > 0 && (starts_ci(s + i, n - i, " am ") || starts_ci(s + i, n - i, " pm ")))
            i += 3;
    }
    while (i < n && s[i] == ' ')
        i++;
    for (size_t k = 0; k < sizeof roles / sizeof roles[0]; k++) {
        size_t j = i + strlen(roles[k].name);
        if (!starts_ci(s + i, n - i, roles[k].name) ||
            (j < n && cx__ascii_alpha((unsigned char)s[j])))
            continue;
        if (j < n && s[j] == ' ' && j + 1 < n && s[j + 1] == '(') { /* "Agent (Lina)" */
            const char *p = memchr(s + j, ')', n - j);
            j = p != NULL && p - (s + j) < 40 ? (size_t)(p - s) + 1 : n;
        }
        if (j < n && s[j] == ':') {
            if (end != NULL)
                *end = j + 1;
            return roles[k].who;
        }
    }
    return SPEAKER_NONE;
}

/* Whether s[0..n) is a chat or call transcript: its first line with words
 * opens with a speaker's label (a line without one goes on the turn before
 * it), and the customer takes two turns or more, with staff or a bot taking
 * one or more. A form's fields ("Client: Android app", "System: Pixel 7",
 * "Customer: Acme Ltd / Agent: Sarah / Message: ...") give the customer one
 * turn, and are not one. */
static int transcript(const char *s, size_t n)
{
    size_t pos = 0, by[SPEAKER_CUSTOMER + 1] = {0};
    int first = 1;
    line l;
    while (next_line(s, n, &pos, &l)) {
        int who = speaker(&l, NULL);
        if (first && l.tn > 0 && who == SPEAKER_NONE)
            return 0;
        first &= l.tn == 0;
        by[who]++;
    }
    return by[SPEAKER_CUSTOMER] >= 2 && by[SPEAKER_STAFF] + by[SPEAKER_MACHINE] >= 1;
}

/* Whether what others wrote starts at l (next: the line after it, or NULL):
 * a reply or forward header, an Outlook header block ("From:" and another
 * header), the signature delimiter, a disclaimer. */
static int others_from(const line *l, const line *next)
{
    static const char *const outlook[] = {"sent:", "date:", "to:"};
    return reply_header(l, next) || forward_header(l) || signature_delimiter(l) || disclaimer(l) ||
           (starts_ci(l->t, l->tn, "from:") && next != NULL &&
            starts_any(next->t, next->tn, outlook, CX_ARRAY_LEN(outlook)));
}

/* Pass 2, in place: the lines of s[0..n) the classifier reads. Returns the
 * new length, or n when nothing is dropped or nothing would be left. */
static size_t lines(char *s, size_t n)
{
    size_t pos = 0, cut = n;
    int content = 0, chat = transcript(s, n);
    line l, next;
    /* where the customer's part ends (a transcript's "Thanks" is a turn) */
    while (cut == n && next_line(s, n, &pos, &l)) {
        size_t at = (size_t)(l.s - s), after = pos;
        int has_next = next_line(s, n, &after, &next);
        if (content && others_from(&l, has_next ? &next : NULL)) {
            cut = at;
        } else if (content && !chat && sign_off(&l)) {
            /* a sign-off, if only a signature follows */
            size_t p = pos;
            int rest = 0, signature = 1;
            line m;
            while (signature && next_line(s, n, &p, &m)) {
                line m2;
                size_t p2 = p;
                int has2 = next_line(s, n, &p2, &m2);
                if (others_from(&m, has2 ? &m2 : NULL) || starts_ci(m.t, m.tn, "from:"))
                    break;
                rest += m.tn > 0;
                signature = rest <= SIGNATURE_LINES && signature_line(&m);
            }
            if (signature)
                cut = at;
        }
        content |=
            !quoted(&l) && !reply_header(&l, has_next ? &next : NULL) && has_content(l.t, l.tn);
    }
    /* quoted lines go too, and what a transcript's bots and system say */
    size_t w = 0;
    int kept_content = 0;
    for (int pass = 0; pass < 2; pass++) {
        pos = 0;
        while (next_line(s, n, &pos, &l) && (size_t)(l.s - s) < cut) {
            size_t after = pos, label = 0;
            int has_next = next_line(s, n, &after, &next);
            if (quoted(&l) || reply_header(&l, has_next ? &next : NULL) == 1)
                continue;
            /* a bot's or the system's line: its label alone (a customer stuck
             * with a bot is the front line's: a bot was there, not what its
             * menu offered) */
            int machine = chat && speaker(&l, &label) == SPEAKER_MACHINE;
            if (pass == 0) {
                kept_content |= !machine && has_content(l.t, l.tn);
                continue;
            }
            size_t start = (size_t)(l.s - s), end = machine ? (size_t)(l.t - s) + label : pos;
            memmove(s + w, s + start, end - start);
            w += end - start;
            if (machine && pos > 0 && s[pos - 1] == '\n')
                s[w++] = '\n';
        }
        if (pass == 0 && !kept_content)
            return n;
    }
    return w;
}

/* Whether a subject line's text s[0..n) is an automatic reply's: a word for
 * one, then ':' or "Re" ("Out of Office: ...", "Out of office Re: ...",
 * "OOO: ...", "Autosvar: ..."; "Out of office hours support" is a
 * complaint's, and "Auto: claim 88123" an insurer's). */
static int auto_subject(const char *s, size_t n)
{
    static const char *const words[] = {"automatic reply",
                                        "auto-reply",
                                        "autoreply",
                                        "auto reply",
                                        "out of office",
                                        "out-of-office",
                                        "ooo",
                                        "autosvar",
                                        "automatisch antwoord",
                                        "automatische antwort",
                                        "r\xc3\xa9ponse automatique",
                                        "respuesta autom\xc3\xa1tica",
                                        "risposta automatica",
                                        "fuori ufficio",
                                        "afwezig"};
    while (n > 0 && *s == ' ') {
        s++;
        n--;
    }
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
        size_t i = strlen(words[k]);
        if (!starts_ci(s, n, words[k]))
            continue;
        while (i < n && s[i] == ' ')
            i++;
        if ((i < n && s[i] == ':') || starts_ci(s + i, n - i, "re:") ||
            starts_ci(s + i, n - i, "re "))
            return 1;
    }
    return 0;
}

/* Whether s[0..n) is an automatic reply: it opens as one's subject does
 * ("Automatic reply:", "Out of office:", "[Auto-Reply]"), or says in its
 * first 400 bytes that its writer is away ("I'm currently out of the
 * office", "I am on leave") and when they will answer ("on my return",
 * "limited access to e-mail"). */
static int auto_reply(const char *s, size_t n)
{
    /* as a subject line says it, colon or brackets included */
    static const char *const openers[] = {"automatic reply:",
                                          "auto-reply:",
                                          "autoreply:",
                                          "auto reply:",
                                          "out of office:",
                                          "out-of-office:",
                                          "out of office reply:",
                                          "[auto-reply]",
                                          "[auto reply]",
                                          "[autoreply]",
                                          "[automatic reply]",
                                          "automatische antwort:",
                                          "r\xc3\xa9ponse automatique"};
    static const char *const writer[] = {"i am ", "i'm ", "i\xe2\x80\x99m "};
    static const char *const away[] = {"out of the office", "away from the office", "on leave",
                                       "on annual leave",   "on holiday",           "on vacation",
                                       "currently away"};
    /* when they will answer, as only an automatic reply says it */
    static const char *const back[] = {"on my return",
                                       "upon my return",
                                       "until i return",
                                       "when i return",
                                       "when i'm back",
                                       "when i am back",
                                       "back in the office",
                                       "limited access to email",
                                       "limited access to e-mail",
                                       "limited access to my email",
                                       "limited access to my e-mail",
                                       "no access to email",
                                       "no access to e-mail"};
    while (n > 0 && cx__ascii_space((unsigned char)*s)) {
        s++;
        n--;
    }
    if (starts_any(s, n, openers, CX_ARRAY_LEN(openers)))
        return 1;
    size_t head = n < 400 ? n : 400;
    /* a forwarded reply's headers, at the top: its subject says it ("Subject:
     * Out of Office: ...", "Subject: OOO: ...", "Subject: Autosvar: ...") */
    line l;
    for (size_t pos = 0, k = 0; k < 6 && next_line(s, head, &pos, &l); k++) {
        if (starts_ci(l.t, l.tn, "subject:"))
            return auto_subject(l.t + 8, l.tn - 8);
        if (!mail_header(&l))
            break; /* the headers are over */
    }
    int said_away = 0;
    for (size_t i = 0; i < head && !said_away; i++) {
        if ((s[i] | 0x20) != 'i' || (i > 0 && cx__ascii_alpha((unsigned char)s[i - 1])))
            continue;
        for (size_t w = 0; w < sizeof writer / sizeof writer[0] && !said_away; w++) {
            if (!starts_ci(s + i, n - i, writer[w]))
                continue;
            size_t from = i + strlen(writer[w]), len = n - from < 40 ? n - from : 40;
            for (size_t k = 0; k < sizeof away / sizeof away[0]; k++) /* "currently on leave" */
                said_away |= find_ci(s + from, len, away[k]) < len;
        }
    }
    for (size_t k = 0; said_away && k < sizeof back / sizeof back[0]; k++)
        if (find_ci(s, head, back[k]) < head)
            return 1;
    return 0;
}

/* Whether s[0..n) is what a form's required text box gets when there is
 * nothing to say: only dots, dashes and the like ("-", "...", "?", "!!"), or
 * a phrase saying so ("n/a", "None.", "No comment", "Nothing to add"). No
 * emoticon is made of those characters (":(", "<3", "-_-" are read); a bare
 * "no" or "nope", an answer to a question the event does not hold, is read
 * too. */
static int placeholder(const char *s, size_t n)
{
    /* each begins with "n", and none is longer than norm below holds */
    static const char *const phrases[] = {"none",
                                          "nothing",
                                          "nil",
                                          "null",
                                          "n a",
                                          "na",
                                          "not applicable",
                                          "no answer",
                                          "no comment",
                                          "no comments",
                                          "no feedback",
                                          "no further comments",
                                          "nothing to add",
                                          "nothing to say",
                                          "nothing to report",
                                          "nothing else",
                                          "nothing more",
                                          "nothing further"};
    char norm[24]; /* lower case, each run of anything but letters and digits one space */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (cx__ascii_alpha(c) || cx__ascii_digit(c)) {
            if (m + 2 > sizeof norm || (m == 0 && (c | 0x20) != 'n'))
                return 0; /* longer than any of them, or not one of them (most texts: at once) */
            norm[m++] = (char)(c | (cx__ascii_alpha(c) ? 0x20 : 0));
            continue;
        }
        /* the marks a blank is made of: ASCII ones, and U+2026 (an ellipsis),
         * U+2013, U+2014 (dashes), U+2022 and U+00B7 (dots) */
        if (c >= 0x80) {
            if (i + 2 < n && c == 0xE2 && (unsigned char)s[i + 1] == 0x80 &&
                memchr("\xA6\x93\x94\xA2", s[i + 2], 4) != NULL)
                i += 2;
            else if (i + 1 < n && c == 0xC2 && (unsigned char)s[i + 1] == 0xB7)
                i += 1;
            else
                return 0; /* a letter of another alphabet, an emoji */
        } else if (c == '\0' || (!cx__ascii_space(c) && strchr(".-?!*,~#'\"`/", c) == NULL)) {
            return 0; /* what emoticons are made of: ":(", "<3", "-_-", ";)" */
        }
        if (m > 0 && norm[m - 1] != ' ')
            norm[m++] = ' ';
    }
    while (m > 0 && norm[m - 1] == ' ')
        m--;
    if (m == 0)
        return n > 0;
    for (size_t k = 0; k < CX_ARRAY_LEN(phrases); k++)
        if (strlen(phrases[k]) == m && memcmp(phrases[k], norm, m) == 0)
            return 1;
    return 0;
}

size_t cx__text_read(const char *text, size_t len, char *out)
{
    size_t n = characters(text, len, out);
    if (auto_reply(out, n) || placeholder(out, n))
        return 0; /* no one's experience, or nothing said */
    return memchr(out, '\n', n) != NULL ? lines(out, n) : n;
}

size_t cx__text_customer(const char *text, size_t len, char *out)
{
    size_t pos = 0, w = 0;
    int turn = 0;
    line l;
    if (!transcript(text, len))
        return CX_TEXT_NOT_A_TRANSCRIPT;
    for (pos = 0; next_line(text, len, &pos, &l);) {
        size_t from = (size_t)(l.s - text), label = 0; /* the words, without the label */
        int who = speaker(&l, &label);
        if (who != SPEAKER_NONE) {
            turn = who == SPEAKER_CUSTOMER;
            from = (size_t)(l.t - text) + label;
            while (from < pos && text[from] == ' ')
                from++;
        }
        if (turn) {
            memcpy(out + w, text + from, pos - from);
            w += pos - from;
        }
    }
    return w;
}

const cx_event *cx__text_customer_view(const cx_event *read, cx_event *view)
{
    if (read->text == NULL || read->text_len > CX_TEXT_READ_MAX ||
        memchr(read->text, '\n', read->text_len) == NULL)
        return NULL;
    char *buf = cx__scratch(CX_SCRATCH_TURNS, CX_TEXT_READ_MAX + 1);
    size_t n = cx__text_customer(read->text, read->text_len, buf);
    if (n == CX_TEXT_NOT_A_TRANSCRIPT)
        return NULL;
    *view = *read;
    view->text = buf;
    view->text_len = n;
    buf[n] = '\0';
    return view;
}

const cx_event *cx__text_view(const cx_event *ev, cx_event *view)
{
    if (ev->text == NULL || ev->text_len > CX_TEXT_READ_MAX)
        return ev;
    char *buf = cx__scratch(CX_SCRATCH_TEXT, CX_TEXT_READ_MAX + 1);
    *view = *ev;
    view->text_len = cx__text_read(ev->text, ev->text_len, buf);
    buf[view->text_len] = '\0';
    view->text = buf;
    return view;
}
