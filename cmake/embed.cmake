# Writes IN as a NUL-terminated C string named NAME into OUT.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE ${OUT} "/* generated from ${IN}; do not edit */\nextern const char ${NAME}[];\nconst char ${NAME}[] = {${body}0x00};\n")
