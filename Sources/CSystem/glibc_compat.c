/*
 * The three glibc functions newer than 2.34 that the statically linked Swift runtime and
 * libgcc's unwinder reference when built on Debian 12 (glibc 2.36): arc4random (2.36),
 * hypotf (a new version in 2.35) and _dl_find_object (2.35). Defined here, the link resolves
 * them to these instead of to versioned imports, so the release binaries load on any glibc
 * from 2.34 on (RHEL 9, Ubuntu 22.04, Debian 12). Each is written against older interfaces
 * only: getrandom (2.25), sqrt and dl_iterate_phdr (2.2.5).
 */
/* A fully static build (integration/build-static.sh, -DSWIFT_CNI_STATIC) links glibc's own
   libc.a, which defines all three: these definitions would clash with it. */
#ifndef SWIFT_CNI_STATIC
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

/* 32 random bits from the kernel's CSPRNG; /dev/urandom where getrandom(2) is missing;
   abort() when neither answers, as glibc's arc4random does. */
uint32_t arc4random(void) {
    uint32_t value;
    for (;;) {
        ssize_t got = getrandom(&value, sizeof value, 0);
        if (got == (ssize_t)sizeof value) return value;
        if (got < 0 && errno == EINTR) continue;
        break;
    }
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t got = read(fd, &value, sizeof value);
        close(fd);
        if (got == (ssize_t)sizeof value) return value;
    }
    abort();
}

/* sqrt(x² + y²) in double precision: no overflow or underflow for any float, and rounded
   once to float. */
float hypotf(float x, float y) {
    if (isinf(x) || isinf(y)) return INFINITY;
    if (isnan(x) || isnan(y)) return NAN;
    double dx = x, dy = y;
    return (float)sqrt(dx * dx + dy * dy);
}

struct find_object_search {
    uintptr_t address;
    struct dl_find_object *result;
    int found;
};

static int find_object_in(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct find_object_search *search = data;
    uintptr_t low = UINTPTR_MAX, high = 0;
    int contains = 0;
    void *eh_frame = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + segment->p_vaddr;
        if (segment->p_type == PT_LOAD) {
            uintptr_t end = start + segment->p_memsz;
            if (start < low) low = start;
            if (end > high) high = end;
            if (search->address >= start && search->address < end) contains = 1;
        } else if (segment->p_type == PT_GNU_EH_FRAME) {
            eh_frame = (void *)start;
        }
    }
    if (!contains) return 0;
    search->result->dlfo_flags = 0;
    search->result->dlfo_map_start = (void *)low;
    search->result->dlfo_map_end = (void *)high;
    search->result->dlfo_link_map = NULL;
    search->result->dlfo_eh_frame = eh_frame;
    search->found = 1;
    return 1;
}

/* The loaded object that contains `address`: its mapping and its PT_GNU_EH_FRAME, which is
   what libgcc's unwinder asks for. 0 when found, -1 otherwise (as glibc's). */
int _dl_find_object(void *address, struct dl_find_object *result) {
    struct find_object_search search = { (uintptr_t)address, result, 0 };
    dl_iterate_phdr(find_object_in, &search);
    return search.found ? 0 : -1;
}

/* For the tests: 1 when this file's _dl_find_object and glibc's (found with RTLD_NEXT) agree
   on the object containing `address` (mapping start, eh_frame); 0 when they differ;
   -1 when glibc has none (before 2.35) or does not find the address. */
int csystem_find_object_agrees(void *address) {
    int (*glibc)(void *, struct dl_find_object *) = (int (*)(void *, struct dl_find_object *))dlsym(RTLD_NEXT, "_dl_find_object");
    struct dl_find_object theirs, ours;
    if (glibc == NULL || glibc == _dl_find_object || glibc(address, &theirs) != 0) return -1;
    if (_dl_find_object(address, &ours) != 0) return 0;
    /* What libgcc's unwinder reads: the object's start and its eh_frame. (glibc's map end of
       the main program is its first segment's, ours the last segment's; nothing reads it.) */
    return ours.dlfo_map_start == theirs.dlfo_map_start && ours.dlfo_eh_frame == theirs.dlfo_eh_frame;
}
#else /* SWIFT_CNI_STATIC */
/* In a static executable glibc's dladdr knows no object, so the Swift runtime, which asks
   for its own path in a static initializer (the backtracer looks for swift-backtrace beside
   it), falls back to readlink("/proc/self/exe") and aborts with "Unable to obtain Swift
   runtime path" where /proc is not mounted (an empty chroot, a minimal container). Every
   address of a static executable is in the executable: this dladdr names it by the path it
   was started with. Nothing in the plugins uses the answer but that path lookup. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>

extern char __executable_start;

int dladdr(const void *address, Dl_info *info) {
    (void)address;
    info->dli_fname = program_invocation_name;
    info->dli_fbase = &__executable_start;
    info->dli_sname = 0;
    info->dli_saddr = 0;
    return 1;
}
#endif /* SWIFT_CNI_STATIC */
