/*
 * Every swift-cni binary carries an ELF note "swift-cni" whose descriptor names its build (the
 * commit and when this file was compiled): main plugins run host-local and static in their own
 * process only when the delegate found on CNI_PATH carries the same note, i.e. is the same
 * build of ours. Reading it takes the ELF header, the program headers and the PT_NOTE
 * segments: a few small reads, not the whole file.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include "CSystem.h"

#ifndef SWIFT_CNI_COMMIT
#define SWIFT_CNI_COMMIT "unknown commit"
#endif
#define IDENTITY SWIFT_CNI_COMMIT " " __DATE__ " " __TIME__

struct swift_cni_note {
    uint32_t namesz, descsz, type;
    char name[12];              /* "swift-cni\0", padded to 4 */
    char desc[(sizeof(IDENTITY) + 3) & ~3u];
};

__attribute__((section(".note.swift-cni"), used, aligned(4)))
static const struct swift_cni_note build_note = {
    10, sizeof(IDENTITY), 0x5343, "swift-cni", IDENTITY,
};

const char *csystem_build_identity(void) { return build_note.desc; }

static int read_at(int fd, void *buffer, size_t length, off_t offset) {
    return pread(fd, buffer, length, offset) == (ssize_t)length ? 0 : -1;
}

int csystem_file_build_identity(const char *path, char *out, size_t capacity) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int result = -1;
    Elf64_Ehdr header;
    if (read_at(fd, &header, sizeof header, 0) != 0 || memcmp(header.e_ident, ELFMAG, SELFMAG) != 0
        || header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_phentsize != sizeof(Elf64_Phdr) || header.e_phnum > 64) goto done;
    for (int i = 0; i < header.e_phnum && result < 0; i++) {
        Elf64_Phdr segment;
        if (read_at(fd, &segment, sizeof segment, (off_t)(header.e_phoff + (uint64_t)i * sizeof segment)) != 0) goto done;
        if (segment.p_type != PT_NOTE || segment.p_filesz > 65536) continue;
        char notes[65536];
        if (read_at(fd, notes, segment.p_filesz, (off_t)segment.p_offset) != 0) continue;
        size_t position = 0;
        while (position + 12 <= segment.p_filesz) {
            uint32_t namesz, descsz, type;
            memcpy(&namesz, notes + position, 4);
            memcpy(&descsz, notes + position + 4, 4);
            memcpy(&type, notes + position + 8, 4);
            size_t name_at = position + 12, desc_at = name_at + ((namesz + 3) & ~3u);
            size_t next = desc_at + ((descsz + 3) & ~3u);
            if (next > segment.p_filesz || next <= position) break;
            if (namesz == 10 && memcmp(notes + name_at, "swift-cni", 10) == 0 && descsz > 0 && descsz <= capacity) {
                memcpy(out, notes + desc_at, descsz);
                out[descsz - 1] = 0;
                result = (int)descsz - 1;
                break;
            }
            position = next;
        }
    }
done:
    close(fd);
    return result;
}
