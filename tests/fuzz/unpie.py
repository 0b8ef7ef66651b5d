#!/usr/bin/env python3
"""unpie.py IN OUT: a copy of the position-independent executable IN that
the dynamic loader also accepts as a shared library (for fuzz_sdp.c, which
links the installed janus binary to run its own SDP code).

glibc refuses to load an executable whose dynamic section has DF_1_PIE in
DT_FLAGS_1; the code itself is position independent either way, so the copy
only has that bit cleared. Exits 1 if IN is not a 64-bit little-endian PIE.
"""
import struct
import sys

DT_FLAGS_1 = 0x6ffffffb
DF_1_PIE = 0x08000000
PT_DYNAMIC = 2


def main(src, dst):
    data = bytearray(open(src, "rb").read())
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        sys.exit("unpie.py: %s is not a 64-bit little-endian ELF file" % src)
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    cleared = False
    for i in range(phnum):
        ph = phoff + i * phentsize
        if struct.unpack_from("<I", data, ph)[0] != PT_DYNAMIC:
            continue
        offset, = struct.unpack_from("<Q", data, ph + 8)
        size, = struct.unpack_from("<Q", data, ph + 32)
        for at in range(offset, offset + size, 16):
            tag, value = struct.unpack_from("<qQ", data, at)
            if tag == DT_FLAGS_1 and value & DF_1_PIE:
                struct.pack_into("<Q", data, at + 8, value & ~DF_1_PIE)
                cleared = True
    if not cleared:
        sys.exit("unpie.py: %s is not a position-independent executable" % src)
    with open(dst, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: unpie.py IN OUT")
    main(sys.argv[1], sys.argv[2])
