# Turns a JavaScript file into a C source defining
#   const char <SYMBOL>[] (NUL-terminated) and const unsigned long <SYMBOL>_len
# Usage: cmake -DIN=file.js -DOUT=file.c -DSYMBOL=name [-DPRE=first.js] -P embed_js.cmake
# PRE (optional) is put before IN (src/functions/admin.js, shared by both runtimes).
file(READ ${IN} hex HEX)
if(PRE)
  file(READ ${PRE} prehex HEX)
  set(hex "${prehex}${hex}")
endif()
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x..,){32})" "\\1\n" bytes "${bytes}")
file(WRITE ${OUT} "/* generated from ${IN} by embed_js.cmake: do not edit */\n"
     "const char ${SYMBOL}[] = {\n${bytes}0x00};\n"
     "const unsigned long ${SYMBOL}_len = ${len};\n")
