/* The rapport binary: a thin main over the CLI module. */
#include "cli/cli.h"

int main(int argc, char **argv)
{
    return rp_cli_main(argc, argv);
}
