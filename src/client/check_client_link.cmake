# Reads the symbols of the C program that links the client library alone (-DPROGRAM=...) and
# fails, naming them, if any part of a node came with it: a listening socket (Asio's acceptor, the
# node's API server, the exit and gateway), SQLite, the embedded ledger's state and store, the
# market's book, journal and deal book, toml++.
find_program(NM nm REQUIRED)
execute_process(COMMAND ${NM} -C ${PROGRAM} OUTPUT_VARIABLE symbols RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nm ${PROGRAM} failed (${rc})")
endif()
set(forbidden
  "basic_socket_acceptor" "sqlite3_" "toml::"
  "ipsx::api::" "ipsx::net::Exit" "ipsx::net::Gateway"
  "ipsx::ledger::EmbeddedLedger" "ipsx::ledger::State::" "ipsx::ledger::Store"
  "ipsx::market::OrderBook" "ipsx::market::Market::" "ipsx::market::Journal")
set(found "")
foreach(f IN LISTS forbidden)
  string(FIND "${symbols}" "${f}" at)
  if(NOT at EQUAL -1)
    string(SUBSTRING "${symbols}" ${at} 120 context)
    string(REGEX REPLACE "\n.*" "" context "${context}")
    list(APPEND found "${f} (${context})")
  endif()
endforeach()
if(found)
  list(JOIN found "\n  " text)
  message(FATAL_ERROR "the client library pulled in a node's parts:\n  ${text}")
endif()
string(LENGTH "${symbols}" n)
message(STATUS "client_link: none of ${forbidden} among ${n} bytes of symbols")
