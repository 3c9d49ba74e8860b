/* LD_PRELOAD shim for profiling: an exec of /proc/self/exe (how upkeepd
 * starts its workers) execs $SELFEXE_SHIM_PATH instead. Under valgrind,
 * /proc/self/exe is valgrind's tool, not upkeepd; with this the workers
 * run under it too (bench/checker_load.py --callgrind). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *fix(const char *path) {
    const char *real = getenv("SELFEXE_SHIM_PATH");
    return (real && strcmp(path, "/proc/self/exe") == 0) ? real : path;
}

int execve(const char *path, char *const argv[], char *const envp[]) {
    int (*real)(const char *, char *const[], char *const[]) = dlsym(RTLD_NEXT, "execve");
    return real(fix(path), argv, envp);
}

int execvp(const char *file, char *const argv[]) {
    int (*real)(const char *, char *const[]) = dlsym(RTLD_NEXT, "execvp");
    return real(fix(file), argv);
}
