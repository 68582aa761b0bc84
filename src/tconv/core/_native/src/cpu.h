/* cpu.h: which instruction sets this CPU and its operating system support. */
#ifndef TC_CPU_H
#define TC_CPU_H

#include "tc_common.h"

/* The tables this machine can run, best first; returns how many (generic is always last). */
int tc_cpu_tables(const tc_isa_table **out, int cap);

#endif
