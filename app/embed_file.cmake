# Writes OUT, a C file defining `const char NAME[]` (NUL-terminated) and
# `const size_t NAME_len` with the bytes of IN.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "/* Generated from ${IN} by embed_file.cmake: do not edit. */\n#include <stddef.h>\n\nconst char ${NAME}[] = {${bytes} 0};\nconst size_t ${NAME}_len = ${len};\n")
