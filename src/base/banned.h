/*
 * Force-included into every translation unit (CMake -include). Functions with
 * unbounded writes or hidden global state are turned into compile errors, as
 * in git's banned.h. The system headers that declare them are included first
 * so their own declarations are not rewritten.
 */
#ifndef RP_BASE_BANNED_H
#define RP_BASE_BANNED_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RP_BANNED(func) sorry_##func##_is_banned_in_rapport

#undef strcpy
#define strcpy(x, y) RP_BANNED(strcpy)
#undef strcat
#define strcat(x, y) RP_BANNED(strcat)
#undef sprintf
#define sprintf(...) RP_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) RP_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) RP_BANNED(strtok)
#undef atoi
#define atoi(x) RP_BANNED(atoi)
#undef atol
#define atol(x) RP_BANNED(atol)
#undef gets
#define gets(x) RP_BANNED(gets)
#undef localtime
#define localtime(x) RP_BANNED(localtime)
#undef gmtime
#define gmtime(x) RP_BANNED(gmtime)

#endif
