# SPDX-License-Identifier: MIT
# Checks an object file that uses gpsa::rel_indices_v: the table symbol lives in a read-only
# data section, .data and .bss are empty, and the object has no dynamic initialisation (no
# .init_array / .ctors section, no _GLOBAL__sub_I_ initialiser, no guard variable).
#   cmake -DOBJDUMP=objdump -DOBJECT=tu_a.o -P check_rodata.cmake
execute_process(COMMAND ${OBJDUMP} -h -t -w ${OBJECT} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${OBJDUMP} failed on ${OBJECT}")
endif()
# The symbol table line of the 14x14 float table: "... O <section> <size> _ZN4gpsa13rel_indices_vILm14ELm14EfEE"
string(REGEX MATCH "[^\n]*[ \t]_ZN4gpsa13rel_indices_vILm14ELm14EfEE[^\n]*" line "${out}")
if(line STREQUAL "")
  message(FATAL_ERROR "no rel_indices_v<14> symbol in ${OBJECT}:\n${out}")
endif()
if(NOT line MATCHES "[ \t](\\.rodata|\\.lrodata)[^ \t]*[ \t]")
  message(FATAL_ERROR "rel_indices_v<14> is not in a read-only data section:\n${line}")
endif()
foreach(bad "\\.init_array" "\\.ctors" "_GLOBAL__sub_I_" "_ZGVN4gpsa13rel_indices_v")
  if(out MATCHES "${bad}")
    message(FATAL_ERROR "${OBJECT} has dynamic initialisation (${bad}):\n${out}")
  endif()
endforeach()
# Nothing writable: .data and .bss are empty (objdump -h: "idx name size ...").
foreach(sec data bss)
  if(out MATCHES "[ \t]\\.${sec}[ \t]+0*[1-9a-fA-F][0-9a-fA-F]*[ \t]")
    message(FATAL_ERROR "${OBJECT} has a non-empty .${sec} section:\n${out}")
  endif()
endforeach()
message(STATUS "ok: ${line}")
