/* keeps the helper library non-empty before any helper exists */
extern int rp_test_helpers_empty;
int rp_test_helpers_empty;
