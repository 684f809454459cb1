/* Slice helpers; see str.h. */
#include "base/str.h"
#include "base/limits.h"

bool rp_str_is_api_name(const char *s, size_t n)
{
    if (n == 0 || n > RP_LIMIT_NAME_BYTES || s[0] < 'a' || s[0] > 'z')
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}
