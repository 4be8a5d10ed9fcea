/*
 * module.h — what module.c (the production entries) shares with module_test.c (the test and
 * benchmark entries): this interpreter's layout and the test-only pretend switch.
 */
#ifndef SPP_MODULE_H
#define SPP_MODULE_H

#include <Python.h>

#include "shim.h"

extern spp_target spp_mod_target; /* this interpreter: its layout, &PyCode_Type, walker */
extern uint64_t spp_mod_runtime;   /* &_PyRuntime */

/* Fill spp_mod_target from this interpreter's own _Py_DebugOffsets, or raise RuntimeError
 * naming the version. */
int spp_mod_load_layout(void);
uint64_t spp_mod_code_type(void);
uint64_t spp_mod_my_tstate(void);

/* Test only (_test_pretend): make spp_mod_load_layout() see another interpreter version
 * and/or another debug-offsets blob, to prove what start() says to an interpreter it cannot
 * handle. */
typedef struct spp_pretend {
    int on;
    unsigned long long version; /* PY_VERSION_HEX to pretend */
    PyObject *blob;             /* bytes to parse instead of _PyRuntime, or NULL */
} spp_pretend;
extern spp_pretend spp_mod_pretend;

/* The test entries, and SIGTERM for command-line sessions (sigterm.c), added to the module
 * by exec_module. */
extern PyMethodDef spp_test_methods[];
extern PyMethodDef spp_sigterm_methods[];

#endif /* SPP_MODULE_H */
