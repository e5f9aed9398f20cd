/*
 * sample.c - the demo's sample data set (config/sample/events.jsonl),
 * compiled into the binary so that `cxpulse demo` runs from any directory,
 * the container image's too (commands.h: cx_replay_file).
 */
#include <stddef.h>

__asm__(".section .rodata\n"
        ".global cx_sample_events\ncx_sample_events:\n.incbin \"" CX_SAMPLE_FILE "\"\n"
        "cx_sample_events_end:\n.byte 0\n"
        ".balign 8\n.global cx_sample_events_len\ncx_sample_events_len:\n"
        ".quad cx_sample_events_end - cx_sample_events\n"
        ".previous\n");
