# The layering, checked: fails if a production file of LAYER (a folder under src/) includes a
# header of a layer that USES does not name. Run by the build for every layer (CMakeLists.txt,
# ipsx_layer); docs/architecture.md shows the same table.
#   cmake -DLAYER=geo -DUSES=core,ledger,geo -DDIR=src/geo -DSTAMP=file -P check_includes.cmake
# Test code beside the layer's sources (tests, fixtures, test utilities, fuzz targets, the anvil
# harness) may use more: what its test program links.
cmake_minimum_required(VERSION 3.25)
string(REPLACE "," ";" uses "${USES}")
file(GLOB files "${DIR}/*.h" "${DIR}/*.cc")
set(test_code "(_test\\.cc|test_util|_testing|fixture|live_node|fuzz_targets|anvil_|scenario|conformance)")
set(bad "")
foreach(f IN LISTS files)
  get_filename_component(name "${f}" NAME)
  if(name MATCHES "${test_code}")
    continue()
  endif()
  file(STRINGS "${f}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"[a-z_]+/")
  foreach(line IN LISTS lines)
    string(REGEX MATCH "\"([a-z_]+)/" _ "${line}")
    if(NOT CMAKE_MATCH_1 IN_LIST uses)
      string(STRIP "${line}" line)
      string(APPEND bad "\n  ${f}: ${line}")
    endif()
  endforeach()
endforeach()
if(bad)
  message(FATAL_ERROR "layer ${LAYER} may include only ${USES} (docs/architecture.md):${bad}")
endif()
file(WRITE "${STAMP}" "ok\n")
