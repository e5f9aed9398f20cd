/*
 * text.h - private to processors/classify: the part of an event's text the
 * classifier reads. E-mail, chat and ticketing systems send the customer's
 * words inside markup, quoted history, signatures, disclaimers and bot
 * lines; read whole, those tag the boilerplate instead of the experience.
 */
#ifndef CX_TEXT_H
#define CX_TEXT_H

#include <stddef.h>

#include "event.h"

/* The longest text (bytes) read this way: 16384 characters of 4 bytes, the
 * schema's limit. A longer one (from a caller that did not check it) is read
 * as it is. */
#define CX_TEXT_READ_MAX 65536

/*
 * Writes to out (room for len bytes: the result is never longer) what the
 * classifier reads of text[0..len), and returns its length:
 * - HTML: tags dropped (a block's end is a line break), with the contents of
 *   <style>, <script>, <head>, <title> and <blockquote> (quoted history) and
 *   of comments; character references decoded ("&#39;", "&nbsp;", "&amp;");
 * - invisible characters that split words dropped (zero-width space and
 *   non-joiner, soft hyphen, byte-order mark);
 * - e-mail: everything from the first reply or forward header ("On ...
 *   wrote:", "-----Original Message-----", "From: ... Sent: ...",
 *   "---------- Forwarded message"), the signature delimiter ("-- ") or a
 *   disclaimer's opening ("This e-mail and any attachments ...") on; a
 *   sign-off line ("Kind regards,") followed by nothing but a signature (a
 *   few short lines, none a sentence or a P.S.) and those lines; lines
 *   quoted with '>';
 * - an automatic reply ("Automatic reply:", "Subject: OOO: ...", "I'm out of
 *   the office ... on my return"): all of it (length 0);
 * - chat transcripts (the first line labeled, two turns or more of the
 *   customer's and one of staff or a bot; in a transcript no sign-off
 *   cuts): what bots and the system say ("Bot: ...", "[10:02] System:
 *   ..."), their labels kept.
 * A cut that would leave no letter or digit is not made: a message that is
 * only a forward is read whole. Plain text without any of these comes back
 * unchanged.
 */
size_t cx__text_read(const char *text, size_t len, char *out);

/*
 * ev as the classifier and the trainer read it: *view, a copy whose text is
 * cx__text_read()'s, kept in the calling thread's working memory until its
 * next call; or ev itself when it has no text or one longer than
 * CX_TEXT_READ_MAX. The stored event keeps its text as sent.
 */
const cx_event *cx__text_view(const cx_event *ev, cx_event *view);

/* What cx__text_customer() returns for a text that is not a transcript. */
#define CX_TEXT_NOT_A_TRANSCRIPT ((size_t)-1)

/*
 * The customer's turns of a chat transcript, text[0..len) being what
 * cx__text_read() gave: written to out (room for len bytes), the lines from
 * a customer's label ("Customer:", "Client:", "Caller:", "Visitor:",
 * "User:", "Guest:", "Me:") up to the next speaker's label, without the
 * labels (as a customer writes outside a chat), and their length returned.
 * CX_TEXT_NOT_A_TRANSCRIPT when the text is not a transcript (as
 * cx__text_read() judges one).
 */
size_t cx__text_customer(const char *text, size_t len, char *out);

/*
 * The customer's turns of read (an event cx__text_view() gave) as *view, in
 * the calling thread's working memory until its next call; NULL when its
 * text is not such a transcript. The sentiment, the customer's feeling, is
 * read from them; the categories from the whole exchange, where an agent
 * often names the cause.
 */
const cx_event *cx__text_customer_view(const cx_event *read, cx_event *view);

#endif /* CX_TEXT_H */
