/*
 * oom.c — what spwalk does when memory runs out (spwalk.h: sw_out_of_memory). Not part of
 * the extension, which handles it without ending the program (python/src/drop_file.c).
 */
#include <stdlib.h>
#include <unistd.h>

#include "spwalk.h"

void sw_out_of_memory(void)
{
    static const char msg[] = "spwalk: error: out of memory\n";
    /* write(2) rather than stdio: stdio may itself need memory. */
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    exit(1);
}
