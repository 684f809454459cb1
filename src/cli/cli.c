#include "cli/cli.h"
#include <stdio.h>
int rp_cli_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    puts("rapport " RP_VERSION);
    return 0;
}
