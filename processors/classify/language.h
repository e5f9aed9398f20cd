/*
 * language.h - private to processors/classify: whether an event's text is
 * English, which the built-in model and the sentiment lexicons read.
 */
#ifndef CX_LANGUAGE_H
#define CX_LANGUAGE_H

#include "event.h"

/*
 * The language of ev's text when it is known not to be English, else NULL
 * (English, or not known: short texts, or none). Known from the event's
 * `language` tag when it is one this knows ("de-AT" -> "de"; "en-*", "eng"
 * and "english" are English; "und", "mul", "zxx" and tags it does not know
 * say nothing), else from the text: letters mostly of another script ("zh",
 * "ja", "ko", "cyrillic", "arabic", ...), or at least two distinct function
 * words of one of eight Latin-script languages (de, es, fr, it, pt, nl, tr,
 * pl), and at least three times as many as of English ("the", "was", "my").
 * The result is a static string.
 */
const char *cx__text_language(const cx_event *ev);

#endif /* CX_LANGUAGE_H */
