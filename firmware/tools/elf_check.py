#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks a firmware image's ELF for zero init cost, and reports what gpsa contributes to it.

  elf_check.py check IMAGE.elf --map IMAGE.map [--rom SYMBOL ...] [--tools PREFIX]
      Fails (exit 1, one line per problem) unless:
      - no input section that comes from gpsa lands in RAM (.data, .bss or any other output
        section at a RAM address): gpsa has no writable state and nothing for start-up code to
        copy or zero;
      - no symbol of gpsa (namespace gpsa, or a gpsa_ C function/object) is writable data (in
        .data, .bss or at a RAM address);
      - .preinit_array / .init_array hold no entry from gpsa and no C++ dynamic initialiser
        (_GLOBAL__sub_I_*) at all: nothing of gpsa, or of the test code built on it, runs before main;
      - every --rom SYMBOL (demangled name, e.g. 'gpsa::rel_indices_v<14u, 14u, float>') is
        read-only data (nm type r/R) at a flash address;
      - every C library member the link pulled in for a reference from libgpsa_core.a provides
        an allowed outside symbol (as `core` below): gpsa brings no errno or libm state.
  elf_check.py core LIBGPSA_CORE.a [--tools PREFIX]
      Fails if the archive references an allocator, exception or RTTI symbol (malloc, operator
      new, __cxa_*, _Unwind_*, typeinfo): the core needs none on the target; or anything outside
      itself but memcpy/memmove/memset, libgcc's __aeabi_* helpers and libm functions that never
      set errno (ceil, floor...): newlib's exp, sqrt... write errno and read __fdlib_version, a
      variable in .data, and the core computes them itself (gpsa/detail/constexpr_math.hpp).
  elf_check.py sizes BASELINE.elf IMAGE.elf ... [--tools PREFIX]
      Prints a Markdown table: each image's .text/.rodata/.data/.bss, the growth over the baseline
      image (start-up + newlib + report functions), the bytes of gpsa's input sections in it
      (read from IMAGE.map beside each ELF), and the bytes of its ROM objects (IMAGE.rom beside
      it: one symbol per line, the tables and folded layers the check requires in flash).

"gpsa's input sections": those linked from libgpsa_core.a, and those (compiled into the images
from gpsa's headers, one section per function/object with -ffunction-sections -fdata-sections)
whose symbol is in namespace gpsa. Binutils: PREFIX-readelf, PREFIX-nm (default arm-none-eabi-).
Python standard library only.
"""
import argparse
import os
import re
import subprocess
import sys

FLASH = (0x00000000, 0x00400000)  # mps2-an386, firmware/platform/mps2_an386.ld
RAM = (0x20000000, 0x20400000)

# Mangled names in namespace gpsa: functions, const member functions, local statics, guards,
# template variables (e.g. _ZN4gpsa13rel_indices_vILj14ELj14EfEE).
GPSA_MANGLED = re.compile(r"_Z(?:[NZ]K?|GVN|THN|TWN|TVN|TIN|TSN)4gpsa")


def run(args):
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"elf_check.py: {' '.join(args)} failed: {p.stderr.strip()}")
    return p.stdout


def is_gpsa_name(name):
    return bool(GPSA_MANGLED.search(name)) or name.startswith("gpsa_") or name.startswith("gpsa::")


def in_range(addr, r):
    return r[0] <= addr < r[1]


def sections(tools, elf):
    """{name: (addr, size, type)} from readelf -S."""
    out = {}
    for line in run([tools + "readelf", "-S", "-W", elf]).splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+([0-9a-f]{8})\s+[0-9a-f]+\s+([0-9a-f]+)", line)
        if m:
            out[m.group(1)] = (int(m.group(3), 16), int(m.group(4), 16), m.group(2))
    return out


def symbols(tools, elf, secs):
    """[(addr, size, kind, section, mangled, demangled)] of defined FUNC/OBJECT symbols."""
    index = {}
    for line in run([tools + "readelf", "-S", "-W", elf]).splitlines():
        m = re.match(r"\s*\[\s*(\d+)\]\s+(\S+)", line)
        if m:
            index[m.group(1)] = m.group(2)

    def parse(text):
        rows = []
        for line in text.splitlines():
            m = re.match(r"\s*\d+:\s+([0-9a-f]{8})\s+(0x[0-9a-f]+|\d+)\s+(FUNC|OBJECT)\s+\S+\s+\S+\s+(\d+)\s+(.+)$",
                         line)
            if m:
                rows.append((int(m.group(1), 16), int(m.group(2), 0), m.group(3),
                             index.get(m.group(4), "?"), m.group(5)))
        return rows
    raw = parse(run([tools + "readelf", "-s", "-W", elf]))
    dem = parse(run([tools + "readelf", "-s", "-W", "-C", elf]))
    if len(raw) != len(dem):
        sys.exit(f"elf_check.py: readelf -s and readelf -s -C disagree on {elf}")
    return [r + (d[4],) for r, d in zip(raw, dem)]


def map_sections(path):
    """Input sections placed in the image, from a GNU ld map: [(output, input, addr, size, file)]."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    start = text.find("Linker script and memory map")
    if start < 0:
        sys.exit(f"elf_check.py: {path}: not a GNU ld map file")
    lines = text[start:].splitlines()
    out, current, pending = [], None, None
    for line in lines:
        m = re.match(r"^(\.\S+|\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)", line)
        if m and not line.startswith(" "):
            current = m.group(1)
            continue
        m = re.match(r"^(\.\S+|\S+)$", line)
        if m and not line.startswith(" "):
            current = m.group(1)  # output section whose address follows on the next line
            continue
        m = re.match(r"^ (\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", line)
        if m:
            out.append((current, m.group(1), int(m.group(2), 16), int(m.group(3), 16), m.group(4)))
            pending = None
            continue
        m = re.match(r"^ (\S+)$", line)
        if m and not line.startswith(" *"):
            pending = m.group(1)  # long input section name: address, size and file on the next line
            continue
        m = re.match(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", line)
        if m and pending:
            out.append((current, pending, int(m.group(1), 16), int(m.group(2), 16), m.group(3)))
            pending = None
            continue
        pending = None
    return out


def map_pulled(path):
    """Archive members the link pulled in, from a GNU ld map: [(member, referencing file, symbol)]."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    start = text.find("Archive member included to satisfy reference by file (symbol)")
    block = text[start:] if start >= 0 else ""
    # The block ends at the next headline (e.g. "Discarded input sections", "Memory Configuration").
    m = re.search(r"^(Allocating common symbols|Discarded input sections|Memory Configuration)", block, re.M)
    if m:
        block = block[:m.start()]
    out, member = [], None
    for line in block.splitlines()[1:]:
        if line and not line[0].isspace():
            member = line.strip()
            continue
        m = re.match(r"^\s+(\S+) \((.*)\)$", line)
        if m and member:
            out.append((member, m.group(1), m.group(2)))
            member = None
    return out


def is_gpsa_section(name, origin):
    return "libgpsa_core.a(" in origin or bool(GPSA_MANGLED.search(name)) or \
        re.search(r"\.gpsa_", name) is not None


def array_entries(tools, elf, secname, secs):
    """Function addresses in an .init_array-like section (little-endian words)."""
    if secname not in secs or secs[secname][1] == 0:
        return []
    dump = run([tools + "readelf", "-x", secname, elf])
    words = []
    for line in dump.splitlines():
        m = re.match(r"\s+0x[0-9a-f]+ ((?:[0-9a-f]{8} ?){1,4})", line)
        if m:
            for w in m.group(1).split():
                words.append(int.from_bytes(bytes.fromhex(w), "little"))
    return words


def cmd_check(args):
    tools, elf = args.tools, args.elf
    secs = sections(tools, elf)
    syms = symbols(tools, elf, secs)
    placed = map_sections(args.map)
    problems = []

    gpsa_in = [p for p in placed if p[3] > 0 and is_gpsa_section(p[1], p[4])]
    if not gpsa_in and args.expect_gpsa:
        problems.append("no input section from gpsa found: is the map file from this image?")
    for out, name, addr, size, origin in gpsa_in:
        if in_range(addr, RAM):
            problems.append(f"gpsa section {name} ({size} bytes, from {origin}) is in RAM ({out})")
    for addr, size, kind, sec, raw, dem in syms:
        if is_gpsa_name(raw) or is_gpsa_name(dem):
            if in_range(addr, RAM) or sec in (".data", ".bss"):
                problems.append(f"gpsa symbol {dem} is writable data ({sec}, {size} bytes)")

    by_addr = {}
    for addr, size, kind, sec, raw, dem in syms:
        if kind == "FUNC":
            by_addr.setdefault(addr & ~1, dem)
    gpsa_code = {(a & ~1) for o, n, a, s, f in gpsa_in if s > 0}
    for arr in (".preinit_array", ".init_array"):
        for fn in array_entries(tools, elf, arr, secs):
            name = by_addr.get(fn & ~1, f"0x{fn:08x}")
            origin = next((f for o, n, a, s, f in placed if a <= (fn & ~1) < a + s and o == ".text"), "?")
            print(f"{arr} entry: {name} ({origin})")
            if (fn & ~1) in gpsa_code or is_gpsa_name(name) or "libgpsa_core.a(" in origin:
                problems.append(f"{arr} entry {name} comes from gpsa")
            if name.startswith("_GLOBAL__sub_I") or name.startswith("_GLOBAL__I"):
                problems.append(f"{arr} entry {name}: a C++ dynamic initialiser ({origin})")

    # What gpsa's core pulled from the C library: only what firmware.core_symbols allows (no libm
    # function that writes errno or reads newlib's __fdlib_version, which live in RAM).
    for member, by, sym in map_pulled(args.map):
        if "libgpsa_core.a(" not in by or "libgpsa_core.a(" in member or "libgcc.a(" in member:
            continue
        if not ALLOWED_OUTSIDE.match(sym):
            problems.append(f"gpsa's core pulled {member} into the image for {sym} "
                            "(allowed: memcpy/memmove/memset, __aeabi_*, errno-free libm)")
        else:
            print(f"from the C library for gpsa: {sym} ({os.path.basename(member)})")

    for want in args.rom:
        hits = [s for s in syms if s[5] == want or s[4] == want]
        if not hits:
            problems.append(f"--rom {want}: no such symbol")
            continue
        for addr, size, kind, sec, raw, dem in hits:
            where = "flash" if in_range(addr, FLASH) else "RAM" if in_range(addr, RAM) else "?"
            print(f"rom: {dem}: {size} bytes at 0x{addr:08x} ({sec}, {where})")
            if kind != "OBJECT" or sec != ".rodata" or where != "flash":
                problems.append(f"{dem} is not read-only data in flash ({kind} in {sec}, 0x{addr:08x})")

    sizes = {n: secs[n][1] for n in (".text", ".rodata", ".data", ".bss") if n in secs}
    g = gpsa_bytes(placed)
    print(f"{os.path.basename(elf)}: " + ", ".join(f"{k} {v}" for k, v in sizes.items()))
    print("gpsa's part: " + ", ".join(f"{k} {v}" for k, v in g.items()))
    for p in problems:
        print(f"FAIL: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"{os.path.basename(elf)}: zero init cost: ok")
    return 0


def gpsa_bytes(placed):
    out = {".text": 0, ".rodata": 0, ".data": 0, ".bss": 0}
    for o, name, addr, size, origin in placed:
        if is_gpsa_section(name, origin):
            key = o if o in out else ".data" if in_range(addr, RAM) else None
            if key:  # other output sections: unwind tables, and non-allocated notes/attributes
                out[key] += size
    return out


BANNED = re.compile(r"^(malloc|calloc|realloc|free|_Zn[wa]\w*|_Zd[la]\w*|__cxa_\w+|_Unwind_\w+|"
                    r"__gxx_personality\w*|_ZTI\w+|_ZTS\w+|abort|__aeabi_unwind_cpp_\w+)$")


# What the core may take from outside itself: the string functions the compiler may call, libgcc's
# run-time ABI helpers (soft double, 64-bit division), and libm functions that cannot set errno.
ALLOWED_OUTSIDE = re.compile(r"^(memcpy|memmove|memset|__aeabi_\w+|(ceil|floor|trunc|round|fabs)f?)$")


def cmd_core(args):
    undefined = set()
    for line in run([args.tools + "nm", "-u", "-A", args.archive]).splitlines():
        parts = line.split()
        if parts:
            undefined.add(parts[-1])
    defined = set()
    for line in run([args.tools + "nm", "-A", "--defined-only", args.archive]).splitlines():
        parts = line.split()
        if len(parts) >= 3:
            defined.add(parts[-1])
    outside = sorted(undefined - defined)
    bad = sorted(u for u in undefined if BANNED.match(u))
    foreign = sorted(u for u in outside if not BANNED.match(u) and not ALLOWED_OUTSIDE.match(u))
    print(f"{os.path.basename(args.archive)}: {len(outside)} references outside it: " + " ".join(outside))
    for b in bad:
        print(f"FAIL: {args.archive} references {b}", file=sys.stderr)
    for f in foreign:
        print(f"FAIL: {args.archive} references {f}, not an allowed outside symbol "
              "(memcpy/memmove/memset, __aeabi_*, errno-free libm)", file=sys.stderr)
    if bad or foreign:
        return 1
    print("no allocator, exception or RTTI symbol, no errno-writing libm function: ok")
    return 0


def cmd_sizes(args):
    cols = (".text", ".rodata", ".data", ".bss")

    def sz(elf):
        secs = sections(args.tools, elf)
        return {c: secs.get(c, (0, 0, ""))[1] for c in cols}

    def rom_bytes(elf):
        path = os.path.splitext(elf)[0] + ".rom"
        if not os.path.exists(path):
            return 0
        with open(path, encoding="utf-8") as f:
            wanted = {line.strip() for line in f if line.strip()}
        syms = symbols(args.tools, elf, sections(args.tools, elf))
        return sum(s[1] for s in syms if s[4] in wanted or s[5] in wanted)

    base = sz(args.baseline)
    print("| image | .text | .rodata | .data | .bss | over baseline (.text / .rodata / .data / .bss) "
          "| gpsa's sections (.text / .rodata / .data / .bss) | ROM objects |")
    print("|---|---|---|---|---|---|---|---|")
    for elf in [args.baseline] + args.images:
        s = sz(elf)
        mp = os.path.splitext(elf)[0] + ".map"
        g = gpsa_bytes(map_sections(mp))
        name = os.path.splitext(os.path.basename(elf))[0]
        over = " / ".join(f"{s[c] - base[c]:+d}" for c in cols) if elf != args.baseline else "—"
        print(f"| {name} | " + " | ".join(str(s[c]) for c in cols) + f" | {over} | " +
              " / ".join(str(g[c]) for c in cols) + f" | {rom_bytes(elf)} |")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tools", default="arm-none-eabi-", help="binutils prefix (default arm-none-eabi-)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("elf")
    c.add_argument("--map", required=True)
    c.add_argument("--rom", action="append", default=[])
    c.add_argument("--expect-gpsa", action="store_true", help="fail when no gpsa section is linked")
    k = sub.add_parser("core")
    k.add_argument("archive")
    s = sub.add_parser("sizes")
    s.add_argument("baseline")
    s.add_argument("images", nargs="*")
    args = ap.parse_args()
    return {"check": cmd_check, "core": cmd_core, "sizes": cmd_sizes}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
