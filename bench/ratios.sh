#!/usr/bin/env bash
# Ratios between figures that different benchmark programs measured in one `make bench`, added to
# the results file: only when both figures are there (never a figure the run did not measure).
#   api.orders_ratio         api.orders_per_s_batched / ledger.raw_recover_all_threads_per_s
#                            (#24: ≥ 0.5; orders through HTTP the fastest way the API offers)
#   api.orders_ratio_16_clients  the same from api.orders_per_s_batched_16_clients (the node
#                            saturated: 16 clients, where 4 leave it idle between answers)
#   api.orders_ratio_single  api.orders_per_s / ledger.raw_recover_all_threads_per_s (one order
#                            per request)
# usage: ratios.sh RESULTS_JSON
set -euo pipefail
results=$1
tmp=$(mktemp)
jq '
  def ratio(name; a; b): if (.[a] != null and .[b] != null and .[b] > 0)
    then .[name] = (.[a] / .[b]) else . end;
  ratio("api.orders_ratio"; "api.orders_per_s_batched"; "ledger.raw_recover_all_threads_per_s")
  | ratio("api.orders_ratio_16_clients"; "api.orders_per_s_batched_16_clients";
          "ledger.raw_recover_all_threads_per_s")
  | ratio("api.orders_ratio_single"; "api.orders_per_s"; "ledger.raw_recover_all_threads_per_s")
' "$results" >"$tmp"
mv "$tmp" "$results"
