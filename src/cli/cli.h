/* The rapport command line: subcommands over the app module. */
#ifndef RP_CLI_CLI_H
#define RP_CLI_CLI_H

/** Runs the command line; returns the process exit status. */
int rp_cli_main(int argc, char **argv);

#endif
