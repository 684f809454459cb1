# Warning flags (git DEVELOPER flags, kore's Makefile); -Werror only when RP_WERROR is on (CI).
function(rp_warnings target)
    target_compile_options(${target} PRIVATE
        -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith
        -Wformat=2 -Wvla -Wwrite-strings -Wundef -fno-common)
    if(RP_WERROR)
        target_compile_options(${target} PRIVATE -Werror)
    endif()
endfunction()

if(RP_SANITIZE)
    add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                        -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address,undefined)
endif()

# libFuzzer builds (clang): the library is instrumented, fuzz targets link the fuzzer driver.
option(RP_FUZZ "build tests/fuzz targets with libFuzzer (clang)" OFF)
if(RP_FUZZ)
    add_compile_options(-fsanitize=fuzzer-no-link)
endif()
